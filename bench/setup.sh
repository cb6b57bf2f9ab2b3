#!/bin/sh
# Installs what the native sink is built from (a C compiler, libnghttp2, OpenSSL) and
# taskset, with apt-get, when any of it is missing. `make bench` runs this first.
set -eu
missing=""
command -v cc >/dev/null 2>&1 || missing="$missing gcc libc6-dev"
command -v taskset >/dev/null 2>&1 || missing="$missing util-linux"
[ -f /usr/include/nghttp2/nghttp2.h ] || missing="$missing libnghttp2-dev"
[ -f /usr/include/openssl/ssl.h ] || missing="$missing libssl-dev"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get install -y --no-install-recommends $missing
fi
