"""Run viper kernel source on CPython with 32-bit checking integers (tests only).

The board crypto's viper kernels (hopseal/crypto/kernels.py) must compute the same on a 32-bit
core as on this 64-bit unix port, where viper's machine word is 64 bits. `load(text)` execs the
kernels' source with stand-ins for viper's types, so every operation is checked:
- `uint` values stay in [0, 2^32) and `int` values in [-2^31, 2^31) after every +, -, *, <<;
  anything else would wrap on a board and not here (or the reverse);
- a 32-bit word loaded through ptr32 that has its top bit set may only be cast with uint():
  as a viper `int` it is negative on a board and positive here;
- int and uint are never mixed in one operation (viper types the result after one operand);
  plain constants take the other operand's type.
Loop counters and offsets assigned from literals are plain Python ints and are not checked
(they index buffers, so they are small).
"""


class Overflow(AssertionError):
    pass


class W:
    """A viper value: v (a Python int) and u (True for uint)."""

    __slots__ = ("v", "u", "hi")

    def __init__(self, v, u, hi=False):
        if u:
            if not 0 <= v < 1 << 32:
                raise Overflow("uint out of 32 bits: %#x" % v)
        elif not hi and not -(1 << 31) <= v < 1 << 31:
            raise Overflow("int out of 32 bits: %#x" % v)
        self.v = v
        self.u = u
        self.hi = hi  # a raw ptr32 word >= 2^31: only uint() may touch it

    def _other(self, o):
        if self.hi:
            raise Overflow("a ptr32 word >= 2^31 used as int (negative on a board)")
        if isinstance(o, W):
            if o.hi:
                raise Overflow("a ptr32 word >= 2^31 used as int (negative on a board)")
            if o.u != self.u:
                raise Overflow("int and uint mixed in one operation")
            return o.v
        return o

    def _mk(self, v):
        return W(v, self.u)

    def __add__(self, o):
        return self._mk(self.v + self._other(o))

    __radd__ = __add__

    def __sub__(self, o):
        return self._mk(self.v - self._other(o))

    def __rsub__(self, o):
        return self._mk(self._other(o) - self.v)

    def __mul__(self, o):
        return self._mk(self.v * self._other(o))

    __rmul__ = __mul__

    def __lshift__(self, o):
        return self._mk(self.v << self._other(o))

    def __rshift__(self, o):
        return self._mk(self.v >> self._other(o))

    def __and__(self, o):
        return self._mk(self.v & self._other(o))

    __rand__ = __and__

    def __or__(self, o):
        return self._mk(self.v | self._other(o))

    __ror__ = __or__

    def __xor__(self, o):
        return self._mk(self.v ^ self._other(o))

    __rxor__ = __xor__

    def __lt__(self, o):
        return self.v < self._other(o)

    def __le__(self, o):
        return self.v <= self._other(o)

    def __gt__(self, o):
        return self.v > self._other(o)

    def __ge__(self, o):
        return self.v >= self._other(o)

    def __eq__(self, o):
        return self.v == self._other(o)

    def __ne__(self, o):
        return self.v != self._other(o)

    def __bool__(self):
        self._other(0)
        return self.v != 0

    def __index__(self):
        self._other(0)
        return self.v

    __hash__ = None


def _uint(x):
    if isinstance(x, W):
        if not x.u and not x.hi and x.v < 0:
            raise Overflow("uint() of a negative int (a different value on a 64-bit port)")
        return W(x.v, True)
    if x < 0:
        raise Overflow("uint() of a negative constant")
    return W(x, True)


class _Addr:
    """int(ptr): a buffer and a byte offset; adding an int moves it, ptr32() turns it back."""

    def __init__(self, buf, off):
        self.buf = buf
        self.off = off

    def __add__(self, o):
        return _Addr(self.buf, self.off + (o.v if isinstance(o, W) else o))


def _int(x):
    if isinstance(x, _Ptr):
        return _Addr(x.buf, x.off * x.width // 8)
    if isinstance(x, W):
        if x.hi or (x.u and x.v >= 1 << 31):
            raise Overflow("int() of a uint >= 2^31 (negative on a board)")
        return W(x.v, False)
    return W(x, False)


class _Ptr:
    def __init__(self, buf, width):
        off = 0
        if isinstance(buf, _Addr):
            if buf.off % (width // 8):
                raise Overflow("unaligned ptr%d" % width)
            off = buf.off // (width // 8)
            buf = buf.buf
        self.buf = buf
        self.width = width
        self.off = off  # in items
        if width == 32 and getattr(buf, "itemsize", None) != 4:
            raise Overflow("ptr32 over a buffer that is not 32-bit words")

    def __getitem__(self, i):
        i = i.__index__() + self.off
        if self.width == 8:
            return W(self.buf[i], False)
        if self.width == 16:
            return W(self.buf[i], False)
        v = self.buf[i]
        return W(v, False, hi=v >= 1 << 31)

    def __setitem__(self, i, x):
        i = i.__index__() + self.off
        v = x.v if isinstance(x, W) else x
        if isinstance(x, W) and x.hi:
            raise Overflow("a raw ptr32 word stored without uint()")
        mask = (1 << self.width) - 1
        self.buf[i] = v & mask


class _Micropython:
    @staticmethod
    def viper(f):
        return f


def load(text):
    """The kernels of `text` (kernels.py), as plain Python functions over checking integers."""
    ns = {
        "micropython": _Micropython,
        "ptr8": lambda b: _Ptr(b, 8),
        "ptr16": lambda b: _Ptr(b, 16),
        "ptr32": lambda b: _Ptr(b, 32),
        "uint": _uint,
        "int": _int,
    }
    exec(text, ns)
    return ns
