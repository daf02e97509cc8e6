#!/usr/bin/env bash
# Build (or reuse) Asterisk for the interop lab from the source tree you point
# at, into a prefix outside this repository:
#
#   tests/interop/build_asterisk.sh ASTERISK_SRC PREFIX
#
# ASTERISK_SRC is an unpacked Asterisk 22 LTS tree (e.g. `git archive 22.10.1`
# of github.com/asterisk/asterisk); it is configured and built in place. Only
# the modules the lab uses are built (menuselect --disable-all, then the list
# below). A stamp in PREFIX names the tree and module list it was built from;
# with the same stamp nothing is rebuilt. Debian 12 build deps: build-essential
# libedit-dev libjansson-dev libxml2-dev uuid-dev libsqlite3-dev libssl-dev
# pkg-config libncurses-dev.
set -euo pipefail
src=${1:?usage: build_asterisk.sh ASTERISK_SRC PREFIX}
prefix=${2:?usage: build_asterisk.sh ASTERISK_SRC PREFIX}
src=$(cd "$src" && pwd)
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
case "$src/" in "$repo"/*) echo "build_asterisk.sh: $src is inside the repository; unpack Asterisk elsewhere" >&2; exit 2;; esac
case "$prefix/" in "$repo"/*) echo "build_asterisk.sh: $prefix is inside the repository; build elsewhere" >&2; exit 2;; esac
[ -f "$src/main/asterisk.c" ] || { echo "build_asterisk.sh: $src is not an Asterisk source tree" >&2; exit 2; }

modules="app_queue app_dial app_echo app_verbose app_userevent app_playback pbx_config res_clioriginate
res_musiconhold res_timing_timerfd bridge_simple bridge_native_rtp bridge_softmix bridge_holding bridge_builtin_features
func_strings func_logic func_callerid func_channel func_global func_devstate func_cut codec_ulaw format_wav format_pcm
res_sorcery_config res_sorcery_memory res_sorcery_astdb res_sorcery_realtime res_sorcery_memory_cache
res_manager_devicestate"
version=$(cat "$src/.version" 2>/dev/null || echo unknown)
stamp="$version $src $(echo $modules | tr -s ' \n' ' ')"
if [ -x "$prefix/sbin/asterisk" ] && [ "$(cat "$prefix/.wfm-interop-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "Asterisk $version already built in $prefix"
  exit 0
fi
cd "$src"
started=$(date +%s)
if [ ! -f config.status ] || ! grep -q -- "--prefix=$prefix" config.log 2>/dev/null; then
  echo "[1/3] configure Asterisk $version (about a minute)"
  nice ./configure --prefix="$prefix" --with-jansson-bundled=no --without-pjproject-bundled --without-pjproject \
    --without-libcurl > "$prefix/configure.log" 2>&1 || { tail -30 "$prefix/configure.log"; exit 1; }
fi
echo "[2/3] menuselect: the lab's modules only"
make menuselect.makeopts > "$prefix/menuselect.log" 2>&1 || { tail -30 "$prefix/menuselect.log"; exit 1; }
enable=()
for m in $modules; do enable+=(--enable "$m"); done
menuselect/menuselect --disable-all "${enable[@]}" --disable BUILD_NATIVE menuselect.makeopts >> "$prefix/menuselect.log" 2>&1 \
  || { tail -30 "$prefix/menuselect.log"; exit 1; }
echo "[3/3] make -j2 and install into $prefix (about 3-4 minutes; log: $prefix/make.log)"
nice make -j2 > "$prefix/make.log" 2>&1 || { tail -40 "$prefix/make.log"; exit 1; }
nice make install > "$prefix/install.log" 2>&1 || { tail -40 "$prefix/install.log"; exit 1; }
echo "$stamp" > "$prefix/.wfm-interop-stamp"
echo "Asterisk $version built in $prefix in $(( $(date +%s) - started )) s"
