"""The viper (`@micropython.viper`) kernels of the board crypto: native code for the core that runs it.

A module of native functions, imported by crypto/viper.py only under MicroPython:
- on a board it is deployed precompiled, as kernels.mpy built with `mpy-cross -march=ARCH` for
  the board file's `"arch"` (host/hopseal_host/mpy.py; the ROMFS image and `make mpy --board`
  include it only then): importing it compiles nothing and costs about 1 KB of heap;
- from .py source (a source deployment, the unix port) MicroPython compiles it at import where the
  port has the native emitter; viper.py does that only with enough heap free;
- the arch-neutral .mpy set leaves it out (`mpy-cross` without `-march` refuses viper code), and
  CircuitPython (no viper) never gets it: SoftCrypto then keeps the pure-Python code.
`micropython`, `ptr8`, `ptr32`, `uint` and `int(...)` casts are viper builtins (no import): the
tests run this same text on CPython over checking integer types (tests/runtime/viper32.py).

Rules every kernel keeps (tests/runtime/test_crypto_viper.py runs them on CPython with 32-bit
checking integer types, on worst-case inputs, to enforce them):
- 32-bit arithmetic: viper's int is a machine word, 32 bits on every board (64 on the unix port
  here). Every intermediate of +, -, *, << fits 32 bits unsigned (`uint`), so the results are the
  same on both; right shifts of values that may reach 2^31 are on `uint` (logical).
- No allocation: kernels read and write caller-owned buffers (array('I') and bytearray) through
  ptr8 / ptr32; nothing is created per call.
- Only byte loads and stores on buffers the caller did not allocate (bytes, memoryview slices),
  so no unaligned word access (an ESP32 or a Cortex-M0+ faults on one).
"""
# flake8: noqa: F821  (viper builtins)

# GHASH (NIST SP 800-38D §6.4) by Shoup's 4-bit method on 32-bit words, and the CTR helpers.
# tab (array('I'), 80 words, built per key by gcm.py): words 4n..4n+3 hold n(x) * H for the
# nibble n, most significant word first; words 64..79 the reduction constants for the 4 bits
# shifted out, already << 16 into the top word.
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


# SHA-512 (FIPS 180-4 §6.4) on 32-bit halves: compress(st, w, k, block, n) runs the compression
# over block[:n] (n a multiple of 128). st: 16 words, (high, low) per state word; w: 160 words
# for the message schedule; k: the 80 round constants as 160 words. 64-bit sums go through
# 16-bit columns (c0..c3) so that nothing exceeds 32 bits; rotations mask before they shift.
# Generated text (one rotation or sum per line), kept as is.
@micropython.viper
def compress(st, w, k, block, n: int):
    ps = ptr32(st)
    pw = ptr32(w)
    pk = ptr32(k)
    pb = ptr8(block)
    off = 0
    while off < n:
        i = 0
        while i < 32:
            o = off + (i << 2)
            pw[i] = (uint(pb[o]) << 24) | (uint(pb[o + 1]) << 16) | (uint(pb[o + 2]) << 8) | uint(pb[o + 3])
            i += 1
        i = 32
        while i < 160:
            xh = uint(pw[i - 30])
            xl = uint(pw[i - 29])
            yh = uint(pw[i - 4])
            yl = uint(pw[i - 3])
            q0h = (xh >> 1) | ((xl & 0x1) << 31)
            q0l = (xl >> 1) | ((xh & 0x1) << 31)
            q1h = (xh >> 8) | ((xl & 0xFF) << 24)
            q1l = (xl >> 8) | ((xh & 0xFF) << 24)
            q2h = xh >> 7
            q2l = (xl >> 7) | ((xh & 0x7F) << 25)
            s0h = q0h ^ q1h ^ q2h
            s0l = q0l ^ q1l ^ q2l
            q0h = (yh >> 19) | ((yl & 0x7FFFF) << 13)
            q0l = (yl >> 19) | ((yh & 0x7FFFF) << 13)
            q1h = (yl >> 29) | ((yh & 0x1FFFFFFF) << 3)
            q1l = (yh >> 29) | ((yl & 0x1FFFFFFF) << 3)
            q2h = yh >> 6
            q2l = (yl >> 6) | ((yh & 0x3F) << 26)
            s1h = q0h ^ q1h ^ q2h
            s1l = q0l ^ q1l ^ q2l
            xh = uint(pw[i - 32])
            xl = uint(pw[i - 31])
            yh = uint(pw[i - 14])
            yl = uint(pw[i - 13])
            c0 = (xl & 0xFFFF) + (s0l & 0xFFFF) + (yl & 0xFFFF) + (s1l & 0xFFFF)
            c1 = (xl >> 16) + (s0l >> 16) + (yl >> 16) + (s1l >> 16) + (c0 >> 16)
            c2 = (xh & 0xFFFF) + (s0h & 0xFFFF) + (yh & 0xFFFF) + (s1h & 0xFFFF) + (c1 >> 16)
            c3 = (xh >> 16) + (s0h >> 16) + (yh >> 16) + (s1h >> 16) + (c2 >> 16)
            xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
            xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
            pw[i] = xh
            pw[i + 1] = xl
            i += 2
        ah = uint(ps[0])
        al = uint(ps[1])
        bh = uint(ps[2])
        bl = uint(ps[3])
        ch = uint(ps[4])
        cl = uint(ps[5])
        dh = uint(ps[6])
        dl = uint(ps[7])
        eh = uint(ps[8])
        el = uint(ps[9])
        fh = uint(ps[10])
        fl = uint(ps[11])
        gh = uint(ps[12])
        gl = uint(ps[13])
        hh = uint(ps[14])
        hl = uint(ps[15])
        i = 0
        while i < 160:
            q0h = (eh >> 14) | ((el & 0x3FFF) << 18)
            q0l = (el >> 14) | ((eh & 0x3FFF) << 18)
            q1h = (eh >> 18) | ((el & 0x3FFFF) << 14)
            q1l = (el >> 18) | ((eh & 0x3FFFF) << 14)
            q2h = (el >> 9) | ((eh & 0x1FF) << 23)
            q2l = (eh >> 9) | ((el & 0x1FF) << 23)
            s1h = q0h ^ q1h ^ q2h
            s1l = q0l ^ q1l ^ q2l
            chh = gh ^ (eh & (fh ^ gh))
            chl = gl ^ (el & (fl ^ gl))
            kh = uint(pk[i])
            kl = uint(pk[i + 1])
            xh = uint(pw[i])
            xl = uint(pw[i + 1])
            c0 = (hl & 0xFFFF) + (s1l & 0xFFFF) + (chl & 0xFFFF) + (kl & 0xFFFF) + (xl & 0xFFFF)
            c1 = (hl >> 16) + (s1l >> 16) + (chl >> 16) + (kl >> 16) + (xl >> 16) + (c0 >> 16)
            c2 = (hh & 0xFFFF) + (s1h & 0xFFFF) + (chh & 0xFFFF) + (kh & 0xFFFF) + (xh & 0xFFFF) + (c1 >> 16)
            c3 = (hh >> 16) + (s1h >> 16) + (chh >> 16) + (kh >> 16) + (xh >> 16) + (c2 >> 16)
            t1l = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
            t1h = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
            q0h = (ah >> 28) | ((al & 0xFFFFFFF) << 4)
            q0l = (al >> 28) | ((ah & 0xFFFFFFF) << 4)
            q1h = (al >> 2) | ((ah & 0x3) << 30)
            q1l = (ah >> 2) | ((al & 0x3) << 30)
            q2h = (al >> 7) | ((ah & 0x7F) << 25)
            q2l = (ah >> 7) | ((al & 0x7F) << 25)
            s0h = q0h ^ q1h ^ q2h
            s0l = q0l ^ q1l ^ q2l
            mh = (ah & bh) | (ch & (ah | bh))
            ml = (al & bl) | (cl & (al | bl))
            hh = gh
            hl = gl
            gh = fh
            gl = fl
            fh = eh
            fl = el
            c0 = (dl & 0xFFFF) + (t1l & 0xFFFF)
            c1 = (dl >> 16) + (t1l >> 16) + (c0 >> 16)
            c2 = (dh & 0xFFFF) + (t1h & 0xFFFF) + (c1 >> 16)
            c3 = (dh >> 16) + (t1h >> 16) + (c2 >> 16)
            el = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
            eh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
            dh = ch
            dl = cl
            ch = bh
            cl = bl
            bh = ah
            bl = al
            c0 = (t1l & 0xFFFF) + (s0l & 0xFFFF) + (ml & 0xFFFF)
            c1 = (t1l >> 16) + (s0l >> 16) + (ml >> 16) + (c0 >> 16)
            c2 = (t1h & 0xFFFF) + (s0h & 0xFFFF) + (mh & 0xFFFF) + (c1 >> 16)
            c3 = (t1h >> 16) + (s0h >> 16) + (mh >> 16) + (c2 >> 16)
            al = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
            ah = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
            i += 2
        xh = uint(ps[0])
        xl = uint(ps[1])
        c0 = (xl & 0xFFFF) + (al & 0xFFFF)
        c1 = (xl >> 16) + (al >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (ah & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (ah >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[0] = xh
        ps[1] = xl
        xh = uint(ps[2])
        xl = uint(ps[3])
        c0 = (xl & 0xFFFF) + (bl & 0xFFFF)
        c1 = (xl >> 16) + (bl >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (bh & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (bh >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[2] = xh
        ps[3] = xl
        xh = uint(ps[4])
        xl = uint(ps[5])
        c0 = (xl & 0xFFFF) + (cl & 0xFFFF)
        c1 = (xl >> 16) + (cl >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (ch & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (ch >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[4] = xh
        ps[5] = xl
        xh = uint(ps[6])
        xl = uint(ps[7])
        c0 = (xl & 0xFFFF) + (dl & 0xFFFF)
        c1 = (xl >> 16) + (dl >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (dh & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (dh >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[6] = xh
        ps[7] = xl
        xh = uint(ps[8])
        xl = uint(ps[9])
        c0 = (xl & 0xFFFF) + (el & 0xFFFF)
        c1 = (xl >> 16) + (el >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (eh & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (eh >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[8] = xh
        ps[9] = xl
        xh = uint(ps[10])
        xl = uint(ps[11])
        c0 = (xl & 0xFFFF) + (fl & 0xFFFF)
        c1 = (xl >> 16) + (fl >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (fh & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (fh >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[10] = xh
        ps[11] = xl
        xh = uint(ps[12])
        xl = uint(ps[13])
        c0 = (xl & 0xFFFF) + (gl & 0xFFFF)
        c1 = (xl >> 16) + (gl >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (gh & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (gh >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[12] = xh
        ps[13] = xl
        xh = uint(ps[14])
        xl = uint(ps[15])
        c0 = (xl & 0xFFFF) + (hl & 0xFFFF)
        c1 = (xl >> 16) + (hl >> 16) + (c0 >> 16)
        c2 = (xh & 0xFFFF) + (hh & 0xFFFF) + (c1 >> 16)
        c3 = (xh >> 16) + (hh >> 16) + (c2 >> 16)
        xl = (c0 & 0xFFFF) | ((c1 & 0xFFFF) << 16)
        xh = (c2 & 0xFFFF) | ((c3 & 0xFFFF) << 16)
        ps[14] = xh
        ps[15] = xl
        off += 128
