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

# GF(2^255 - 19), 16 limbs of 16 bits, one element per 16-word slot of a workspace array('I').
# Words 0..31 (slots 0 and 1) are the multiplier's scratch. Every slot a program reads holds
# limbs below 2^16 (a value below 2^256, reduced mod p only loosely), and every op leaves its
# output so: a product's column sums split into low and high 16-bit halves, so that no sum of
# sixteen 32-bit products is ever formed: the product is schoolbook, a row per limb of a, with the
# carry kept below 2^16 so that t + a_i * b_j + carry <= 2^32 - 1; 2^256 = 38 (mod p) folds the
# top half back. The 16 columns of a row are unrolled (about 1.5 KB of native code each way).
#
# run(ws, prog, src, soff) executes a program: 4 bytes per op (op, dst, a, b), slot numbers,
# ending with op 0. src is a byte buffer of 32-byte little-endian elements, soff an element
# index into it (LOADB/STOREB address element soff + b).
#   1 MUL d=a*b   2 SQN d=a^(2^b)   3 ADD d=a+b   4 SUB d=a-b   5 COPY d=a
#   6 LOADB d=src[soff+b]   7 STOREB src[soff+b]=a   8 NEG d=-a (as 4p - a)
# ladder(ws, k, prog): the X25519 Montgomery ladder over a clamped scalar k (32 bytes), running
# prog (one ladder step on slots 3..6) per bit, with the conditional swap of (3, 4) and (5, 6).
FE = r"""
@micropython.viper
def run(ws, prog, src, soff: int):
    w = ptr32(ws)
    base = int(w)
    p = ptr8(prog)
    src8 = ptr8(src)
    pc = 0
    while True:
        op = p[pc]
        if op == 0:
            break
        d = p[pc + 1] << 4
        a = p[pc + 2] << 4
        b = p[pc + 3] << 4
        pc += 4
        if op <= 2:
            reps = 1
            if op == 2:
                reps = b >> 4
                b = a
            while reps > 0:
                k = 0
                while k < 16:
                    w[k] = 0
                    k += 1
                pb = ptr32(base + (b << 2))
                i = 0
                while i < 16:
                    ai = uint(w[a + i])
                    pt = ptr32(base + (i << 2))
                    s = uint(pt[0]) + ai * uint(pb[0])
                    pt[0] = s & 0xFFFF
                    s = uint(pt[1]) + ai * uint(pb[1]) + (s >> 16)
                    pt[1] = s & 0xFFFF
                    s = uint(pt[2]) + ai * uint(pb[2]) + (s >> 16)
                    pt[2] = s & 0xFFFF
                    s = uint(pt[3]) + ai * uint(pb[3]) + (s >> 16)
                    pt[3] = s & 0xFFFF
                    s = uint(pt[4]) + ai * uint(pb[4]) + (s >> 16)
                    pt[4] = s & 0xFFFF
                    s = uint(pt[5]) + ai * uint(pb[5]) + (s >> 16)
                    pt[5] = s & 0xFFFF
                    s = uint(pt[6]) + ai * uint(pb[6]) + (s >> 16)
                    pt[6] = s & 0xFFFF
                    s = uint(pt[7]) + ai * uint(pb[7]) + (s >> 16)
                    pt[7] = s & 0xFFFF
                    s = uint(pt[8]) + ai * uint(pb[8]) + (s >> 16)
                    pt[8] = s & 0xFFFF
                    s = uint(pt[9]) + ai * uint(pb[9]) + (s >> 16)
                    pt[9] = s & 0xFFFF
                    s = uint(pt[10]) + ai * uint(pb[10]) + (s >> 16)
                    pt[10] = s & 0xFFFF
                    s = uint(pt[11]) + ai * uint(pb[11]) + (s >> 16)
                    pt[11] = s & 0xFFFF
                    s = uint(pt[12]) + ai * uint(pb[12]) + (s >> 16)
                    pt[12] = s & 0xFFFF
                    s = uint(pt[13]) + ai * uint(pb[13]) + (s >> 16)
                    pt[13] = s & 0xFFFF
                    s = uint(pt[14]) + ai * uint(pb[14]) + (s >> 16)
                    pt[14] = s & 0xFFFF
                    s = uint(pt[15]) + ai * uint(pb[15]) + (s >> 16)
                    pt[15] = s & 0xFFFF
                    pt[16] = s >> 16
                    i += 1
                c = uint(0)
                k = 0
                while k < 16:
                    c += uint(w[k]) + uint(w[k + 16]) * 38
                    w[d + k] = c & 0xFFFF
                    c = c >> 16
                    k += 1
                c = c * 38
                k = 0
                while c != uint(0):
                    if k == 16:
                        c = c * 38
                        k = 0
                    c += uint(w[d + k])
                    w[d + k] = c & 0xFFFF
                    c = c >> 16
                    k += 1
                a = d
                b = d
                reps -= 1
        elif op <= 4 or op == 8:
            c = uint(0)
            k = 0
            while k < 16:
                if op == 3:
                    c += uint(w[a + k]) + uint(w[b + k])
                else:
                    m = uint(0x1FFFE)
                    if k == 0:
                        m = uint(0x1FFB4)
                    if op == 4:
                        c += uint(w[a + k]) + m - uint(w[b + k])
                    else:
                        c += m - uint(w[a + k])
                w[d + k] = c & 0xFFFF
                c = c >> 16
                k += 1
            c = c * 38
            k = 0
            while c != uint(0):
                if k == 16:
                    c = c * 38
                    k = 0
                c += uint(w[d + k])
                w[d + k] = c & 0xFFFF
                c = c >> 16
                k += 1
        elif op == 5:
            k = 0
            while k < 16:
                w[d + k] = w[a + k]
                k += 1
        elif op == 6:
            o = (soff << 5) + (b << 1)
            k = 0
            while k < 16:
                w[d + k] = src8[o] | (src8[o + 1] << 8)
                o += 2
                k += 1
        elif op == 7:
            o = (soff << 5) + (b << 1)
            k = 0
            while k < 16:
                x = uint(w[a + k])
                src8[o] = x & 255
                src8[o + 1] = x >> 8
                o += 2
                k += 1


@micropython.viper
def ladder(ws, k, prog):
    w = ptr32(ws)
    kb = ptr8(k)
    swap = 0
    pos = 254
    while pos >= 0:
        bit = (kb[pos >> 3] >> (pos & 7)) & 1
        if bit != swap:
            swap = bit
            i = 48
            while i < 80:
                x = w[i]
                w[i] = w[i + 32]
                w[i + 32] = x
                i += 1
        run(ws, prog, prog, 0)
        pos -= 1
    if swap:
        i = 48
        while i < 80:
            x = w[i]
            w[i] = w[i + 32]
            w[i + 32] = x
            i += 1
"""
