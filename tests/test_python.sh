#!/usr/bin/env bash
# The Python binding (python/matchbox, ctypes) against the shared library
# build/lib/libmatchbox.so: struct layouts checked against matchbox.h with a
# C compiler, then tokenizing, generation, streaming, stop strings, chat
# templates and errors compared with the CLI (tests/test_python.py).
# Usage: test_python.sh MATCHBOX SHARED
set -u
MB=$1
SHARED=${2:-}
SRC=$(cd "$(dirname "$0")/.." && pwd)
LIB=$(cd "$(dirname "$MB")/.." && pwd)/lib/libmatchbox.so

command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
[ -f "$LIB" ] || { echo "SKIP: $LIB is missing (the shared library is not built)"; exit 77; }
[ -f "$SHARED/models/stories260K.gguf" ] && [ -d "$SHARED/templates" ] ||
  { echo "SKIP: $SHARED is incomplete"; exit 77; }

# A sanitizer build's library needs its runtime loaded first, into python
# only (test_python.py drops it for the programs it runs); python itself
# leaks by design, so leak checking is off there.
PRELOAD=
if readelf -d "$LIB" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
  PRELOAD=$(${CC:-cc} -print-file-name=libasan.so)
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi

MATCHBOX_LIB=$LIB PYTHONPATH=$SRC/python${PYTHONPATH:+:$PYTHONPATH} LD_PRELOAD=$PRELOAD \
  python3 "$SRC/tests/test_python.py" "$MB" "$SHARED" "$SRC/include"
