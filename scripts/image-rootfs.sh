#!/bin/sh
# Lays out the root filesystem of the `guardian` image in DEST, which must be
# empty or missing:
#
#   /usr/local/bin/guardian            the static binary (0755)
#   /etc/passwd, /etc/group            nonroot, uid and gid 65532, no login shell
#   /etc/ssl/certs/ca-certificates.crt CA roots for HTTPS to a language model
#   /tmp                               1777, for runs without a /tmp volume
#
# and nothing else: no shell, no package manager, no libc. Used by both
# scripts/build-image.sh (umoci, no Docker daemon) and deploy/Dockerfile
# (its build stage), so the two images have the same files.
#
# Usage: image-rootfs.sh BINARY CA_BUNDLE DEST
# POSIX sh: the Dockerfile's build stage runs it too.
set -eu

if [ "$#" -ne 3 ]; then
    echo "usage: $0 BINARY CA_BUNDLE DEST" >&2
    exit 2
fi
binary=$1
ca=$2
dest=$3

if [ ! -x "$binary" ]; then
    echo "image-rootfs: $binary is not an executable file; build guardian first" >&2
    exit 1
fi
if [ ! -s "$ca" ]; then
    echo "image-rootfs: $ca is missing or empty; install ca-certificates" >&2
    exit 1
fi
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
    echo "image-rootfs: $dest is not empty" >&2
    exit 1
fi

umask 022
mkdir -p "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/tmp"
chmod 1777 "$dest/tmp"
install -m 0755 "$binary" "$dest/usr/local/bin/guardian"
install -m 0644 "$ca" "$dest/etc/ssl/certs/ca-certificates.crt"
# Numeric in the image config (USER 65532:65532), so that `runAsNonRoot` can
# verify it; named here for tools that print user names.
printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > "$dest/etc/passwd"
printf 'nonroot:x:65532:\n' > "$dest/etc/group"
chmod 0644 "$dest/etc/passwd" "$dest/etc/group"
