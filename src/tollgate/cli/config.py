"""The saved login of the command line: ``{server, token, workspace}`` in ``credentials.json``.

Folder: ``$TOLLGATE_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/tollgate``, else ``~/.config/tollgate``.
The file is created with mode 0600 (a folder the CLI creates gets 0700) and replaced
atomically, so a reader never sees half a file and the token is never readable by others,
not even for an instant.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from tollgate.core.errors import CallerError

FILE_NAME = "credentials.json"


class SavedLoginError(CallerError):
    default_code = "saved_login_unreadable"


@dataclass(frozen=True, slots=True)
class Login:
    server: str
    token: str
    workspace: str | None = None


def config_dir(env: Mapping[str, str]) -> Path:
    if env.get("TOLLGATE_CONFIG_DIR"):
        return Path(env["TOLLGATE_CONFIG_DIR"])
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "tollgate"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".config" / "tollgate"


def login_path(env: Mapping[str, str]) -> Path:
    return config_dir(env) / FILE_NAME


def load_login(env: Mapping[str, str]) -> Login | None:
    """The saved login, or None when there is none."""
    path = login_path(env)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        workspace = data.get("workspace")
        login = Login(str(data["server"]), str(data["token"]), str(workspace) if workspace else None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SavedLoginError(
            f"the saved login in {path} cannot be read: run `tollgate login` again"
        ) from exc
    return login


def save_login(login: Login, env: Mapping[str, str]) -> Path:
    """Write the login (mode 0600) and return where it went."""
    folder = config_dir(env)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / FILE_NAME
    temporary = folder / f".{FILE_NAME}.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # exactly 0600, whatever the umask
            json.dump(asdict(login), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def remove_login(env: Mapping[str, str]) -> Path | None:
    """Delete the saved login; the path it had, or None when there was none."""
    path = login_path(env)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path
