#!/usr/bin/env bash
# libmatchbox as an app developer gets it (docs/LIBRARY.md): install the
# build into a temporary prefix (and once more under DESTDIR), build
# examples/app.c against the installed library with pkg-config, shared and
# static, run both on stories260K, and check that libmatchbox.so exports
# exactly the functions the installed headers declare with MB_API.
# Usage: test_install.sh BUILD/bin/matchbox SHARED (the build dir is found
# from the binary's path).
set -u
. "$(dirname "$0")/lib/common.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$(dirname "$MB")/.." && pwd)
M=$SHARED/models/stories260K.gguf
skip() {
  echo "SKIP: $*"
  exit 77
}
[ -f "$BUILD/CMakeCache.txt" ] || skip "$BUILD is not a CMake build directory"
# Sanitizer builds instrument the library: a plain `cc` app cannot link it.
grep -qE '^MB_(SANITIZE|FUZZ):BOOL=ON' "$BUILD/CMakeCache.txt" &&
  skip "sanitizer/fuzz build: the installed library needs the sanitizer runtime"
[ -f "$M" ] || skip "$M is absent"
CC=${CC:-cc}
for tool in "$CC" pkg-config nm objdump python3; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# The version the header says; CMake's project version and the soname come from it.
ver() { sed -n "s/^#define MB_VERSION_$1 \([0-9]*\)$/\1/p" "$SRC/include/matchbox.h"; }
MAJOR=$(ver MAJOR)
VERSION=$MAJOR.$(ver MINOR).$(ver PATCH)

# ---- install into a prefix ---------------------------------------------
P=$T/prefix
check "cmake --install '$BUILD' --prefix '$P' >'$T/install.log' 2>&1" \
  "cmake --install: $(cat "$T/install.log" 2>/dev/null)"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$P" -name matchbox.pc | head -1)")
check "[ -f '$PKG_CONFIG_PATH/matchbox.pc' ]" "no matchbox.pc installed under $P"
LIBDIR=$(pkg-config --variable=libdir matchbox 2>/dev/null)
check "[ '$LIBDIR' -ef '$PKG_CONFIG_PATH/..' ]" \
  "matchbox.pc libdir [$LIBDIR] is not the lib dir it was installed to"
check "[ \"\$(pkg-config --variable=prefix matchbox)\" = '$P' ]" "matchbox.pc prefix is not $P"
check "[ \"\$(pkg-config --modversion matchbox)\" = '$VERSION' ]" "matchbox.pc version != $VERSION"
check "[ -f '$LIBDIR/libmatchbox.a' ]" "libmatchbox.a not installed"
check "[ -f '$LIBDIR/libmatchbox.so.$VERSION' ]" "libmatchbox.so.$VERSION not installed"
check "[ \"\$(readlink '$LIBDIR/libmatchbox.so.$MAJOR')\" = libmatchbox.so.$VERSION ]" \
  "libmatchbox.so.$MAJOR is not a link to libmatchbox.so.$VERSION"
check "[ \"\$(readlink '$LIBDIR/libmatchbox.so')\" = libmatchbox.so.$MAJOR ]" \
  "libmatchbox.so is not a link to libmatchbox.so.$MAJOR"
check "objdump -p '$LIBDIR/libmatchbox.so' | grep -qE 'SONAME +libmatchbox[.]so[.]$MAJOR\$'" \
  "soname is not libmatchbox.so.$MAJOR"
check "cmp -s '$SRC/include/matchbox.h' '$P/include/matchbox.h'" "include/matchbox.h not installed"
for h in "$SRC"/include/matchbox/*.h; do
  [ -f "$h" ] || continue
  check "cmp -s '$h' '$P/include/matchbox/$(basename "$h")'" "$h not installed"
done
check "'$P/bin/matchbox' --version | grep -q '^matchbox $VERSION '" "installed CLI --version"

# ---- DESTDIR: a staged install writes only under it ----------------------
D=$T/stage
[ -e /opt/matchbox-test ] && opt_before=1 || opt_before=0
check "DESTDIR='$D' cmake --install '$BUILD' --prefix /opt/matchbox-test >/dev/null 2>&1" \
  "DESTDIR install failed"
staged_pc=$(find "$D/opt/matchbox-test" -name matchbox.pc 2>/dev/null | head -1)
check "[ -n '$staged_pc' ] && [ -f \"\$(dirname '$staged_pc')/../libmatchbox.so.$VERSION\" ]" \
  "DESTDIR install: no library under $D/opt/matchbox-test"
check "grep -qx 'prefix=/opt/matchbox-test' '$staged_pc'" \
  "DESTDIR install: matchbox.pc should name the final prefix, not the staging dir"
check "[ -x '$D/opt/matchbox-test/bin/matchbox' ] && [ -f '$D/opt/matchbox-test/include/matchbox.h' ]" \
  "DESTDIR install: CLI or header missing"
[ "$opt_before" = 1 ] || check "[ ! -e /opt/matchbox-test ]" "DESTDIR install wrote /opt/matchbox-test"

# ---- the example app against the installed shared library ----------------
want="Once upon a time$(cat "$SHARED/reference/stories260K/once.gen.txt")"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic)
# shellcheck disable=SC2046 # pkg-config output is meant to split into words
if "$CC" "${CFLAGS[@]}" -o "$T/app" "$SRC/examples/app.c" $(pkg-config --cflags --libs matchbox) \
  2>"$T/cc.log"; then
  ok
  check "objdump -p '$T/app' | grep -q 'NEEDED *libmatchbox[.]so[.]$MAJOR\$'" \
    "app does not load libmatchbox.so.$MAJOR"
  LD_LIBRARY_PATH=$LIBDIR "$T/app" "$M" "Once upon a time" 32 >"$T/out" 2>"$T/err"
  check "[ $? -eq 0 ]" "app failed: $(cat "$T/err")"
  check "[ \"\$(cat '$T/out')\" = \"\$want\" ]" "app text: got [$(cat "$T/out")] want [$want]"
  check "grep -q 'stop: max tokens; prompt [0-9]* tokens, generated 32 tokens' '$T/err'" \
    "app counts: $(cat "$T/err")"
  check "grep -q 'built with matchbox $VERSION, running $VERSION\$' '$T/err'" \
    "header and library versions: $(head -1 "$T/err")"
  # The loader found the installed copy, not the build tree's.
  check "LD_LIBRARY_PATH='$LIBDIR' ldd '$T/app' | grep -q '=> $LIBDIR/libmatchbox.so.$MAJOR'" \
    "app did not resolve libmatchbox from $LIBDIR"
else
  bad "app did not build against the installed library: $(cat "$T/cc.log")"
fi
# A C++ app can include the header too.
if command -v c++ >/dev/null; then
  printf '#include <matchbox.h>\nint main() { return mb_version() == nullptr; }\n' >"$T/app.cc"
  check "c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags matchbox) '$T/app.cc'" \
    "matchbox.h does not compile as C++"
fi

# ---- and statically: pkg-config --static, libmatchbox.a -------------------
libs=$(pkg-config --static --libs matchbox)
libs=${libs/-lmatchbox/-Wl,-Bstatic -lmatchbox -Wl,-Bdynamic}
# shellcheck disable=SC2086,SC2046
if "$CC" "${CFLAGS[@]}" -o "$T/app_static" "$SRC/examples/app.c" $(pkg-config --cflags matchbox) $libs \
  2>"$T/cc.log"; then
  ok
  check "! objdump -p '$T/app_static' | grep -q 'NEEDED *libmatchbox'" "static app loads libmatchbox.so"
  "$T/app_static" "$M" "Once upon a time" 32 >"$T/out" 2>"$T/err"
  check "[ $? -eq 0 ]" "static app failed: $(cat "$T/err")"
  check "[ \"\$(cat '$T/out')\" = \"\$want\" ]" "static app text: got [$(cat "$T/out")]"
  check "grep -q 'generated 32 tokens' '$T/err'" "static app counts: $(cat "$T/err")"
else
  bad "app did not link statically: $(cat "$T/cc.log")"
fi

# ---- the exported symbols are the public API, no more, no less -----------
nm -D --defined-only "$LIBDIR/libmatchbox.so" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$T/exported"
check "[ -s '$T/exported' ]" "nm found no symbols in libmatchbox.so"
python3 - "$T/exported" "$P/include/matchbox.h" "$P"/include/matchbox/*.h <<'EOF' >"$T/symcheck" 2>&1
# Reads the installed headers as C: comments and preprocessor lines out,
# then every top-level declaration (inside extern "C" too). A declaration
# with parentheses is a function (unless it is a pointer to one).
import os, re, sys
exported = set(open(sys.argv[1]).read().split())
funcs, others = {}, set()
for path in sys.argv[2:]:
    if not os.path.isfile(path):
        continue
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    depth, stmt, stmts = 0, "", []
    for c in text:
        if c == "{":
            if depth == 0 and re.search(r'extern\s*"C"\s*$', stmt):
                stmt = ""  # the body of extern "C" is still top level
                continue
            if depth == 0:
                stmts.append(stmt)
            depth, stmt = depth + 1, ""
        elif c == "}":
            depth, stmt = max(depth - 1, 0), ""
        elif c == ";":
            if depth == 0:
                stmts.append(stmt)
            stmt = ""
        elif depth == 0:
            stmt += c
    for s in (" ".join(x.split()) for x in stmts):
        if not s or re.match(r"(typedef|static)\b", s):
            continue
        m = re.match(r"([^(]*?)\b([A-Za-z_]\w*)\s*\((?!\s*\*)", s)
        if m:
            funcs[m.group(2)] = "MB_API" in m.group(1).split()
        else:
            ids = re.findall(r"[A-Za-z_]\w*", s.split("=")[0].split("[")[0])
            if ids:
                others.add(ids[-1])
bad = 0
for name in sorted(exported - set(funcs) - others):
    print(f"exported but not declared in the installed headers: {name}")
    bad += 1
for name in sorted(n for n, api in funcs.items() if not api):
    print(f"declared without MB_API (hidden in the .so): {name}")
    bad += 1
for name in sorted(n for n, api in funcs.items() if api and n not in exported):
    print(f"declared with MB_API but not in libmatchbox.so: {name}")
    bad += 1
for name in sorted(n for n in funcs if not n.startswith("mb_")):
    print(f"public function without the mb_ prefix: {name}")
    bad += 1
print(f"{len(exported)} exported, {len(funcs)} public functions declared")
sys.exit(1 if bad else 0)
EOF
check "[ $? -eq 0 ]" "symbol check:"
cat "$T/symcheck"
finish
