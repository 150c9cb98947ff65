#!/usr/bin/perl
# Rewrites citations of the protocol reference that lived outside the repository ("protocol doc §3.12",
# "checklist 18", "(§3.7)") into citations of docs/protocol.md ("docs/protocol.md §3.12",
# "docs/protocol.md checklist 18"), the form ProtocolCitationTests accepts. Idempotent: run it again after
# merging a branch that still has the old form.
#
#   perl tools/rewrite-protocol-citations.pl            # rewrites src/ tests/ bench/ examples/ docs/ in place
#   perl tools/rewrite-protocol-citations.pl FILE...    # only these files
#
# It prints each file it changed. docs/protocol.md itself (whose bare "§" are its own cross-references),
# ProtocolCitationTests.cs (whose examples of the old form must stay old), CHANGELOG.md (history) and this
# script are never touched.
use strict;
use warnings;
use utf8;
use File::Find;

binmode STDOUT, ':encoding(UTF-8)';

my $SEC  = qr/§\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?/;    # §3.12, §4.2–4.3, §1
my $NUM  = qr/\d+(?:[–-]\d+)?/;                          # 18, 70–72
my $ITEM = qr/(?:$SEC|checklist $NUM)/;
my $SEP  = qr/(?:, and |, | and | \/ )/;
my $RUN  = qr/$ITEM(?:$SEP(?:$ITEM|$NUM))*/;             # one citation: a list of sections and items
my $DOC  = 'docs/protocol.md';

sub rewrite {
    my ($t) = @_;
    # Phrases that named the old document.
    $t =~ s/protocol doc's conformance checklist \(§/conformance checklist ($DOC §/g;
    $t =~ s/protocol doc's checklist \(§/checklist ($DOC §/g;
    $t =~ s/(?:the )?protocol doc's conformance checklist/the conformance checklist of $DOC/g;
    $t =~ s/(?:the )?[Pp]rotocol doc(?:ument)? §/$DOC §/g;
    $t =~ s/(?:the )?[Pp]rotocol doc(?:ument)? (\d)/$DOC §$1/g;
    # "checklist §8.5" is section 8.5 of the doc; "§8.3 items 31–36" are checklist items.
    $t =~ s/([Cc]onformance checklist) §/$1, §/g;
    $t =~ s/checklist (§)/$1/g;
    $t =~ s/§8(?:\.\d+)? items? ($NUM)/checklist $1/g;
    # Every citation run not yet anchored to the file gets the file's name in front.
    my @kept;
    $t =~ s/(\Q$DOC\E $RUN)/push @kept, $1; "\x{0}" . $#kept . "\x{0}"/ge;
    $t =~ s/(?<![\w\/.])($RUN)/$DOC $1/g;
    $t =~ s/\x{0}(\d+)\x{0}/$kept[$1]/g;
    return $t;
}

my @files = @ARGV;
if (!@files) {
    find({ no_chdir => 1, wanted => sub {
        if (-d $_ && m{/(?:bin|obj|\.git|node_modules)$}) { $File::Find::prune = 1; return; }
        return unless -f $_ && /\.(?:cs|ps1|psm1|psd1|ps1xml|xml|sh|md|csproj|props)$/;
        return if m{(?:^|/)docs/protocol\.md$};
        return if m{(?:^|/)ProtocolCitationTests\.cs$};    # its examples of the old form stay old
        push @files, $_;
    } }, grep { -d } qw(src tests bench examples docs));
    push @files, grep { -f } qw(build.ps1);
}

for my $f (sort @files) {
    open my $in, '<:raw', $f or die "$f: $!";
    my $raw = do { local $/; <$in> };
    close $in;
    my $text = eval { my $copy = $raw; utf8::decode($copy) ? $copy : undef };
    next unless defined $text;
    my $new = rewrite($text);
    next if $new eq $text;
    my $out = $new;
    utf8::encode($out);
    open my $o, '>:raw', "$f.tmp.$$" or die "$f: $!";
    print {$o} $out;
    close $o or die "$f: $!";
    chmod((stat $f)[2] & 07777, "$f.tmp.$$");
    rename "$f.tmp.$$", $f or die "$f: $!";
    print "$f\n";
}
