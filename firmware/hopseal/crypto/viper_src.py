"""Source of the viper (`@micropython.viper`) kernels, compiled on the device by crypto/viper.py.

Why source text and not a module of viper functions: a .mpy holding native code is tied to one
architecture, while the project ships one architecture-free .mpy set (and ROMFS image) for every
board. Compiled on the device, the same text becomes native code for whatever core runs it; a port
without the viper emitter (CircuitPython, a build without MICROPY_EMIT_NATIVE) fails the compile
and keeps the pure-Python code. viper.py drops this module once it is compiled, so the text does
not stay in RAM. Each kernel is its own string: the compile's peak heap is one kernel's parse.

Rules every kernel keeps (tests/runtime/test_crypto_viper.py runs these same strings on CPython
with 32-bit checking integer types, on worst-case inputs, to enforce them):
- 32-bit arithmetic: viper's int is a machine word, 32 bits on every board (64 on the unix port
  here). Every intermediate of +, -, *, << fits 32 bits unsigned (`uint`), so the results are the
  same on both; right shifts of values that may reach 2^31 are on `uint` (logical).
- No allocation: kernels read and write caller-owned buffers (array('I') and bytearray) through
  ptr8 / ptr32; nothing is created per call.
- Only byte loads and stores on buffers the caller did not allocate (bytes, memoryview slices),
  so no unaligned word access (an ESP32 or a Cortex-M0+ faults on one).
"""

# GHASH (NIST SP 800-38D §6.4) by Shoup's 4-bit method on 32-bit words, and the CTR helpers.
# tab (array('I'), 80 words, built per key by gcm.py): words 4n..4n+3 hold n(x) * H for the
# nibble n, most significant word first; words 64..79 the reduction constants for the 4 bits
# shifted out, already << 16 into the top word.
GCM = r"""
@micropython.viper
def ghash(tab, y, data, n: int):
    pt = ptr32(tab)
    py = ptr8(y)
    pd = ptr8(data)
    off = 0
    while off < n:
        m = n - off
        if m > 16:
            m = 16
        i = 0
        while i < m:
            py[i] = py[i] ^ pd[off + i]
            i += 1
        off += 16
        z0 = uint(0)
        z1 = uint(0)
        z2 = uint(0)
        z3 = uint(0)
        i = 15
        while i >= 0:
            x = uint(py[i])
            r = int(z3 & 15)
            z3 = (z3 >> 4) | ((z2 & 15) << 28)
            z2 = (z2 >> 4) | ((z1 & 15) << 28)
            z1 = (z1 >> 4) | ((z0 & 15) << 28)
            z0 = (z0 >> 4) ^ uint(pt[64 + r])
            k = int(x & 15) << 2
            z0 ^= uint(pt[k])
            z1 ^= uint(pt[k + 1])
            z2 ^= uint(pt[k + 2])
            z3 ^= uint(pt[k + 3])
            r = int(z3 & 15)
            z3 = (z3 >> 4) | ((z2 & 15) << 28)
            z2 = (z2 >> 4) | ((z1 & 15) << 28)
            z1 = (z1 >> 4) | ((z0 & 15) << 28)
            z0 = (z0 >> 4) ^ uint(pt[64 + r])
            k = int(x >> 4) << 2
            z0 ^= uint(pt[k])
            z1 ^= uint(pt[k + 1])
            z2 ^= uint(pt[k + 2])
            z3 ^= uint(pt[k + 3])
            i -= 1
        py[0] = z0 >> 24
        py[1] = (z0 >> 16) & 255
        py[2] = (z0 >> 8) & 255
        py[3] = z0 & 255
        py[4] = z1 >> 24
        py[5] = (z1 >> 16) & 255
        py[6] = (z1 >> 8) & 255
        py[7] = z1 & 255
        py[8] = z2 >> 24
        py[9] = (z2 >> 16) & 255
        py[10] = (z2 >> 8) & 255
        py[11] = z2 & 255
        py[12] = z3 >> 24
        py[13] = (z3 >> 16) & 255
        py[14] = (z3 >> 8) & 255
        py[15] = z3 & 255


@micropython.viper
def ctr_blocks(buf, k: int, c: uint):
    p = ptr8(buf)
    j = 12
    while k > 0:
        p[j] = c >> 24
        p[j + 1] = (c >> 16) & 255
        p[j + 2] = (c >> 8) & 255
        p[j + 3] = c & 255
        c += 1
        j += 16
        k -= 1


@micropython.viper
def xor_into(out, a, b, n: int):
    po = ptr8(out)
    pa = ptr8(a)
    pb = ptr8(b)
    i = 0
    while i < n:
        po[i] = pa[i] ^ pb[i]
        i += 1
"""
