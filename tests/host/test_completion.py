"""`hopseal completion bash|zsh|fish`: scripts made from the parser; the bash one run by bash."""
import shutil
import subprocess

import pytest

from hopseal_host import completion
from hopseal_host.cli import build_parser


def complete(script, *words):
    """What bash offers for `words` (the last one being typed)."""
    test = 'COMP_WORDS=(%s); COMP_CWORD=%d; COMPREPLY=(); _hopseal_complete; echo "${COMPREPLY[*]}"' % (
        " ".join("'%s'" % w for w in words), len(words) - 1)
    r = subprocess.run(["bash", "-c", script + "\n" + test], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and not r.stderr, r.stderr
    return r.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_bash_offers_commands_options_and_choices_from_the_parser():
    script = completion.bash(build_parser())
    assert complete(script, "hopseal", "") == ["node", "relay", "identity", "message", "tcp-outlet", "tcp-inlet",
                                               "hub", "gateway", "virtual-board", "board", "stream", "status",
                                               "completion"]
    assert complete(script, "hopseal", "st") == ["stream", "status"]
    assert complete(script, "hopseal", "stream", "") == ["create", "push", "pull", "receive", "list"]
    assert complete(script, "hopseal", "status", "") == ["hub", "gateway", "node"]
    assert complete(script, "hopseal", "status", "--output", "") == ["text", "json"]
    assert complete(script, "hopseal", "-v", "identity", "s") == ["show"]
    assert complete(script, "hopseal", "hub", "--log-format", "j") == ["json"]
    assert complete(script, "hopseal", "gateway", "--ser") == ["--serial"]
    assert "--bare-string" not in complete(script, "hopseal", "message", "send", "--")  # hidden stays hidden
    assert complete(script, "hopseal", "completion", "") == ["bash", "zsh", "fish"]


def test_zsh_and_fish_scripts():
    z = completion.zsh(build_parser())
    assert z.startswith("#compdef hopseal\n") and "bashcompinit" in z and "complete -o filenames -F" in z
    f = completion.fish(build_parser())
    assert "complete -c hopseal -f -n '__fish_use_subcommand' -a gateway" in f
    assert ("complete -c hopseal -n '__fish_seen_subcommand_from status' -l output -x -a 'text json'" in f)
    assert "-n '__fish_seen_subcommand_from relay; and __fish_seen_subcommand_from create' -l at -r" in f
    assert "bare-string" not in f


def test_completion_command():
    from hopseal_host.cli import main

    assert main(["completion", "fish"]) == 0
