"""Secrets at rest: the vault's files and folder are private where the platform has modes, loading an
exposed vault warns with the chmod that fixes it, and a save is atomic.

Runs under pytest and under `micropython tests/mp_run.py test_vault_files`, where it checks what the
port can do: MicroPython's `os` has no chmod or open, so the unix port's files follow the umask (the
test sets modes with the shell's chmod to see the warning) and a board's filesystem has no modes.
"""
import os

from hopseal.secure.vault import FILE_NAME, load_vault, open_vault
from hs_backends import IS_MICROPYTHON, fast
from rt import quiet

NOW = 1735689600  # 2025-01-01
SETS_MODES = hasattr(os, "chmod")  # CPython (on Windows only the read-only bit means anything)


def tmpdir():
    return "/tmp/hopseal-vault-files-" + "".join("%02x" % b for b in os.urandom(6))


def rmtree(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + "/" + n
        if os.stat(p)[0] & 0x4000:
            rmtree(p)
        else:
            os.remove(p)
    os.rmdir(d)


def mode(path):
    return os.stat(path)[0] & 0o777


def chmod(path, m):
    """Set a mode where this runtime can (the unix port through the shell); False where it cannot."""
    if SETS_MODES:
        os.chmod(path, m)
        return True
    if hasattr(os, "system") and os.system("chmod %o %s" % (m, path)) == 0:
        return True
    return False


def has_modes(path):
    """Whether this filesystem reports permission bits (a board's FAT or littlefs does not)."""
    return mode(path) != 0


def warnings(lines):
    return [m for lvl, name, m in lines if lvl == 30 and name == "vault"]


def test_a_new_vault_is_private():
    c = fast()
    d = tmpdir()
    try:
        lines = quiet()
        v = open_vault(c, d, NOW)
        path = d + "/" + FILE_NAME
        assert v.path == path
        assert os.listdir(d) == [FILE_NAME]  # no temporary file left
        if SETS_MODES:
            assert mode(path) == 0o600, oct(mode(path))
            assert mode(d) == 0o700, oct(mode(d))
        # loading it again is quiet where it is private; a port without chmod shows its umask
        assert open_vault(c, d, NOW).identifier == v.identifier
        if SETS_MODES or not has_modes(path):
            assert warnings(lines) == []
    finally:
        rmtree(d)


def test_a_save_replaces_an_exposed_file_and_a_stale_temporary_file_with_private_ones():
    c = fast()
    d = tmpdir()
    try:
        quiet()
        v = open_vault(c, d, NOW)
        path = d + "/" + FILE_NAME
        with open(path + ".tmp", "wb") as f:  # a stale temporary file anyone may read
            f.write(b"stale")
        chmod(path + ".tmp", 0o644)
        chmod(path, 0o644)  # a vault file written before files were made private
        v.save(path)
        assert sorted(os.listdir(d)) == [FILE_NAME]
        if SETS_MODES:
            assert mode(path) == 0o600, oct(mode(path))
        assert load_vault(c, path).identifier == v.identifier
    finally:
        rmtree(d)


def test_loading_an_exposed_vault_warns_with_the_fix():
    c = fast()
    d = tmpdir()
    try:
        lines = quiet()
        v = open_vault(c, d, NOW)
        path = d + "/" + FILE_NAME
        if not has_modes(path) or not chmod(path, 0o640) or not chmod(d, 0o700):
            return  # a filesystem without modes: nothing to warn about
        assert open_vault(c, d, NOW).identifier == v.identifier  # a warning, not a refusal
        w = warnings(lines)
        assert w == ["vault file %s is open to group/others (mode 640): run chmod 600 %s" % (path, path)], w

        del lines[:]
        chmod(path, 0o600)
        chmod(d, 0o755)
        open_vault(c, d, NOW)
        w = warnings(lines)
        assert w == ["vault directory %s is open to group/others (mode 755): run chmod 700 %s" % (d, d)], w

        del lines[:]
        chmod(d, 0o700)
        open_vault(c, d, NOW)
        load_vault(c, path)
        assert warnings(lines) == []
    finally:
        rmtree(d)


def test_a_recovered_temporary_file_is_checked_too():
    c = fast()
    d = tmpdir()
    try:
        lines = quiet()
        v = open_vault(c, d, NOW)
        path = d + "/" + FILE_NAME
        os.rename(path, path + ".tmp")  # a crash between removing the old file and the rename
        if not has_modes(path + ".tmp") or not chmod(path + ".tmp", 0o604):
            return
        assert load_vault(c, path).identifier == v.identifier
        assert warnings(lines) == ["vault file %s is open to group/others (mode 604): run chmod 600 %s" % (path, path)]
    finally:
        rmtree(d)


def test_a_failed_save_leaves_the_vault_as_it_was():
    c = fast()
    d = tmpdir()
    try:
        quiet()
        v = open_vault(c, d, NOW)
        path = d + "/" + FILE_NAME
        with open(path, "rb") as f:
            before = f.read()
        v.encode = lambda: 12345  # the write fails part-way: after the temporary file is created
        try:
            v.save(path)
        except Exception:
            pass
        else:
            raise AssertionError("save did not fail")
        with open(path, "rb") as f:
            assert f.read() == before  # the vault file was never opened for writing
        assert load_vault(c, path).identifier == v.identifier
        assert os.listdir(d) == [FILE_NAME]  # and the partial temporary file is gone
    finally:
        rmtree(d)


def test_the_host_home_and_identity_are_private():
    if IS_MICROPYTHON or not SETS_MODES:
        return
    from hopseal_host import home

    d = tmpdir()
    try:
        quiet()
        os.mkdir(d)
        os.chmod(d, 0o755)
        v = home.open_identity(d + "/home/identity")
        assert mode(d + "/home") == 0o700
        assert mode(d + "/home/identity") == 0o700
        assert mode(v.path) == 0o600
        assert mode(d) == 0o755  # a folder that was there keeps its mode
    finally:
        rmtree(d)
