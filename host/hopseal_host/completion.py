"""`hopseal completion bash|zsh|fish`: shell completion scripts generated from the CLI's own parser.

Rules upheld here:
- the script is made from the argparse parser at the time it is printed: every command, action,
  option and choice the parser has, and nothing it does not (no second list to keep in step);
- hidden options (help=SUPPRESS) are not offered;
- no dependency: shtab, the well-kept generator, does bash, zsh and tcsh but not fish, so the
  three scripts are written here; zsh runs the bash one through bashcompinit.
"""
from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


class Command:
    """One command of the parser tree: its subcommands, options and choices."""

    def __init__(self, path: tuple[str, ...], parser: argparse.ArgumentParser, help: str = ""):
        self.path = path
        self.help = help
        self.subs: dict[str, Command] = {}
        self.options: list[tuple[list[str], argparse.Action]] = []
        self.positional_choices: list[str] = []
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                helps = {c.dest: c.help or "" for c in a._choices_actions}
                for name, sub in a.choices.items():
                    self.subs[name] = Command(path + (name,), sub, helps.get(name, ""))
            elif a.option_strings:
                if a.help != argparse.SUPPRESS:
                    self.options.append((list(a.option_strings), a))
            elif a.choices:
                self.positional_choices += [str(c) for c in a.choices]

    def walk(self):
        yield self
        for sub in self.subs.values():
            yield from sub.walk()


def _takes_value(a: argparse.Action) -> bool:
    return a.nargs != 0


def _q(text: str) -> str:
    """`text` in single quotes for bash and fish."""
    return "'%s'" % text.replace("\\", "\\\\").replace("'", "'\\''")


def bash(parser: argparse.ArgumentParser, prog: str = "hopseal") -> str:
    root = Command((), parser)
    subs, opts, takes, choices = {}, {}, {}, {}
    for c in root.walk():
        key = " ".join(("@",) + c.path)  # "@": the root (bash keys cannot be empty)
        subs[key] = " ".join(c.subs)
        opts[key] = " ".join(s for strings, _ in c.options for s in strings)
        takes[key] = " ".join(s for strings, a in c.options if _takes_value(a) for s in strings)
        if c.positional_choices:
            choices[key] = " ".join(c.positional_choices)
        for strings, a in c.options:
            if a.choices:
                for s in strings:
                    choices[key + " " + s] = " ".join(str(x) for x in a.choices)

    def table(name, d):
        return "declare -gA %s=(\n%s\n)" % (name, "\n".join("  [%s]=%s" % (_q(k), _q(v)) for k, v in d.items()))

    fn = "_%s_complete" % prog.replace("-", "_")
    return "\n".join([
        "# %s completion for bash, made from its parser: eval \"$(%s completion bash)\"" % (prog, prog),
        table(fn + "_subs", subs), table(fn + "_opts", opts), table(fn + "_takes", takes),
        table(fn + "_choices", choices),
        """%(fn)s() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="@" w i
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if [[ " ${%(fn)s_subs[$path]} " == *" $w "* ]]; then path="$path $w"; fi
    done
    local key="$path $prev"
    if [[ $prev == -* && -n "${%(fn)s_choices[$key]+x}" ]]; then
        COMPREPLY=($(compgen -W "${%(fn)s_choices[$key]}" -- "$cur")); return
    fi
    if [[ $prev == -* && " ${%(fn)s_takes[$path]} " == *" $prev "* ]]; then
        COMPREPLY=($(compgen -f -- "$cur")); return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${%(fn)s_opts[$path]}" -- "$cur")); return
    fi
    COMPREPLY=($(compgen -W "${%(fn)s_subs[$path]} ${%(fn)s_choices[$path]}" -- "$cur"))
}
complete -o filenames -F %(fn)s %(prog)s""" % {"fn": fn, "prog": prog},
    ]) + "\n"


def zsh(parser: argparse.ArgumentParser, prog: str = "hopseal") -> str:
    return ("#compdef %s\n# %s completion for zsh (the bash script through bashcompinit): "
            "eval \"$(%s completion zsh)\"\nautoload -U +X compinit && compinit\n"
            "autoload -U +X bashcompinit && bashcompinit\n" % (prog, prog, prog)) + bash(parser, prog)


def fish(parser: argparse.ArgumentParser, prog: str = "hopseal") -> str:
    root = Command((), parser)
    lines = ["# %s completion for fish, made from its parser: %s completion fish | source" % (prog, prog)]

    def condition(c: Command) -> str:
        if not c.path:
            return "__fish_use_subcommand"
        parts = ["__fish_seen_subcommand_from %s" % p for p in c.path]
        if c.subs:  # not yet past this command's own subcommand
            parts.append("not __fish_seen_subcommand_from %s" % " ".join(c.subs))
        return "; and ".join(parts)

    for c in root.walk():
        cond = _q(condition(c))
        for name, sub in c.subs.items():
            lines.append("complete -c %s -f -n %s -a %s -d %s" % (prog, cond, name, _q(sub.help)))
        if c.positional_choices:
            lines.append("complete -c %s -f -n %s -a %s" % (prog, cond, _q(" ".join(c.positional_choices))))
        for strings, a in c.options:
            flags = []
            for s in strings:
                flags.append(("-l %s" % s[2:]) if s.startswith("--") else ("-s %s" % s[1:]))
            value = ""
            if a.choices:
                value = " -x -a %s" % _q(" ".join(str(x) for x in a.choices))
            elif _takes_value(a):
                value = " -r"
            text = (a.help or "").replace("%%", "%").split(";")[0].split(" (")[0][:80]
            lines.append("complete -c %s -n %s %s%s -d %s" % (prog, cond, " ".join(flags), value, _q(text)))
    return "\n".join(lines) + "\n"


def cmd_completion(args: argparse.Namespace) -> int:
    # the CLI hands over its parser factory (make_parser): commands never import the CLI
    print({"bash": bash, "zsh": zsh, "fish": fish}[args.shell](args.make_parser()), end="")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    c = sub.add_parser("completion", help="print a shell completion script (bash, zsh, fish)",
                       description="Print a completion script for SHELL, made from hopseal's own parser (every "
                       "command, option and choice).",
                       epilog="examples:\n"
                       "  eval \"$(hopseal completion bash)\"      # in ~/.bashrc\n"
                       "  eval \"$(hopseal completion zsh)\"       # in ~/.zshrc\n"
                       "  hopseal completion fish > ~/.config/fish/completions/hopseal.fish",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    c.set_defaults(func=cmd_completion)
    return c
