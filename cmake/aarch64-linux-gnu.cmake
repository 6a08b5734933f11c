# Cross build for 64-bit ARM Linux with Debian's gcc-aarch64-linux-gnu; the
# tests run under qemu-aarch64 (qemu-user), which ctest puts in front of
# every test executable. QEMU_CPU picks the emulated CPU (scripts/test-arm64).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Target libraries come from the arm64 multiarch directories
# (libpcre2-dev:arm64 installs into /usr/lib/aarch64-linux-gnu).
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# The target's loader and libraries: QEMU_LD_PREFIX (/usr/aarch64-linux-gnu,
# or scripts/test-arm64's overlay of it).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
