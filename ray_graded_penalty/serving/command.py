"""The server's command line: a template checked once, rendered per trial.

Example:
    >>> command = Command.parse("python -m http.server {port} --bind {host}", fixed={})
    >>> command.needs
    ()
    >>> command.render({}, port=8000)
    ['python', '-m', 'http.server', '8000', '--bind', '127.0.0.1']
"""

from __future__ import annotations

import os
import shlex
import shutil
import string
from typing import Any, Mapping, NamedTuple, Tuple

#: Fields every template may use; the trainable fills them in, never the user.
PROVIDED = ("port", "host")
HOST = "127.0.0.1"


class Command(NamedTuple):
    """A checked template: its words, the fixed values, and the names each trial must give."""

    words: Tuple[str, ...]
    fixed: Mapping[str, Any]
    needs: Tuple[str, ...]
    fields: Tuple[str, ...] = ()

    @classmethod
    def parse(cls, template: str, fixed: Mapping[str, Any], check_executable: bool = True) -> "Command":
        """Check ``template`` against ``fixed`` (see :func:`~ray_graded_penalty.serving.server_trainable`)."""
        if not isinstance(template, str) or not template.strip():
            raise ValueError(f"command must be a non-empty string, got {template!r}")
        try:
            words = tuple(shlex.split(template))
        except ValueError as e:
            raise ValueError(f"command {template!r} cannot be split into words: {e}") from None
        names = []
        for word in words:
            try:
                parsed = list(string.Formatter().parse(word))
            except ValueError as e:
                raise ValueError(f"command word {word!r} is not a valid template: {e}; write a literal "
                                 f"brace twice ({{{{ and }}}}), as in a JSON value") from None
            for _, name, _, _ in parsed:
                if name is None:
                    continue
                if not name.isidentifier():
                    raise ValueError(
                        f"command field {{{name}}} must be a plain name such as {{max_num_seqs}}; a literal "
                        f"brace is written twice: --compilation-config '{{{{\"level\": 3}}}}'"
                    )
                names.append(name)
        if "port" not in names:
            raise ValueError(
                f"command {template!r} has no {{port}}: the server must listen on the free port "
                f"each trial is given"
            )
        taken = sorted(set(fixed) & set(PROVIDED))
        if taken:
            raise ValueError(f"{taken} are filled in for each trial and cannot be given as fixed values")
        if os.sep in words[0] and not os.path.isabs(words[0]) and "{" not in words[0]:
            # Tune runs each trial in its own directory: the path is the driver's, made absolute
            here = os.path.abspath(words[0])
            if os.access(here, os.X_OK):
                words = (here, *words[1:])
        if check_executable and "{" not in words[0]:
            found = shutil.which(words[0]) if os.sep not in words[0] else (
                words[0] if os.access(words[0], os.X_OK) else None
            )
            if found is None:
                raise ValueError(
                    f"the server executable {words[0]!r} was not found (PATH or path); install it "
                    f"or pass check_executable=False if it exists only on the worker nodes"
                )
        needs = tuple(dict.fromkeys(n for n in names if n not in fixed and n not in PROVIDED))
        return cls(words, dict(fixed), needs, tuple(dict.fromkeys(names)))

    def render(self, config: Mapping[str, Any], port: int) -> list:
        """The argument list for one trial; raises ``ValueError`` naming a missing parameter."""
        missing = [name for name in self.needs if name not in config]
        if missing:
            raise ValueError(
                f"the server command needs {missing}, which neither the trial's config "
                f"(keys: {sorted(config)}) nor server_trainable's fixed values give"
            )
        values = {**{k: config[k] for k in self.needs}, **self.fixed, "port": port, "host": HOST}
        return [word.format(**values) for word in self.words]
