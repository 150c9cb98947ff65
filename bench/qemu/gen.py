# A QEMU stream of the documented layout (docs/qemu-stream.md) with one VFIO section of 1 GiB device data in 64 MiB
# chunks (one pre-copy, fifteen stop-copy), config ids 8086:4941. Usage: gen.py OUT
import struct, json, os, sys
M = lambda v: struct.pack('>Q', v)
EOS, CFG, SETUP, DATA = 0xffffffffef100001, 0xffffffffef100002, 0xffffffffef100003, 0xffffffffef100004
idstr = b'0000:00:04.0/vfio'
chunk = os.urandom(1 << 20) * 64          # 64 MiB
with open(sys.argv[1], 'wb') as f:
    f.write(b'QEVM' + struct.pack('>I', 3))
    f.write(b'\x07' + struct.pack('>I', 11) + b'pc-q35-10.0')
    f.write(b'\x01' + struct.pack('>I', 2) + bytes([len(idstr)]) + idstr + struct.pack('>II', 0, 1) + M(SETUP) + M(EOS) + b'\x7e' + struct.pack('>I', 2))
    f.write(b'\x02' + struct.pack('>I', 2) + M(DATA) + M(len(chunk)) + chunk + M(EOS) + b'\x7e' + struct.pack('>I', 2))
    f.write(b'\x03' + struct.pack('>I', 2))
    for i in range(15): f.write(M(DATA) + M(len(chunk)) + chunk)
    f.write(M(EOS) + b'\x7e' + struct.pack('>I', 2))
    cfg = bytearray(4096); cfg[0:4] = bytes([0x86, 0x80, 0x41, 0x49])
    body = M(CFG) + struct.pack('>I', 2) + bytes(cfg) + bytes(16) + M(EOS)
    f.write(b'\x04' + struct.pack('>I', 2) + bytes([len(idstr)]) + idstr + struct.pack('>II', 0, 1) + body + b'\x7e' + struct.pack('>I', 2))
    desc = json.dumps({"page_size": 4096, "devices": [{"name": idstr.decode(), "instance_id": 0, "vmsd_name": "", "version": 1, "size": len(body)}]}).encode()
    f.write(b'\x00\x06' + struct.pack('>I', len(desc)) + desc)
