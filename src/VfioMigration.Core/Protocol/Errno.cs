namespace VfioMigration.Protocol;

/// <summary>Linux errno values the VFIO uAPI uses (x86_64/asm-generic numbering).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EIO = 5;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ENOTTY = 25;
    public const int ESPIPE = 29;
    public const int E2BIG = 7;
    public const int ENOMSG = 42;
    public const int ETIMEDOUT = 110;
    public const int EOVERFLOW = 75;
    public const int EOPNOTSUPP = 95;

    /// <summary>The symbolic name of an errno, for messages ("EINVAL (22)").</summary>
    public static string Name(int errno) => errno switch
    {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EIO => "EIO",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        ENOSPC => "ENOSPC",
        ENOTTY => "ENOTTY",
        ESPIPE => "ESPIPE",
        E2BIG => "E2BIG",
        ENOMSG => "ENOMSG",
        ETIMEDOUT => "ETIMEDOUT",
        EOVERFLOW => "EOVERFLOW",
        EOPNOTSUPP => "EOPNOTSUPP",
        _ => "errno",
    } + $" ({errno})";
}
