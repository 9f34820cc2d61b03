"""What every command receives: paths, the environment and the loaded config (read on first use)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rupu.config import LoadedConfig, load_config
from rupu.paths import Paths


@dataclass(slots=True)
class AppContext:
    paths: Paths
    env: Mapping[str, str]
    debug: bool = False
    _config: LoadedConfig | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, *, debug: bool = False) -> AppContext:
        from rupu.openfiles import raise_soft_limit

        raise_soft_limit()
        env = dict(os.environ)
        return cls(Paths.discover(env, Path.cwd()), env, debug)

    @property
    def config(self) -> LoadedConfig:
        if self._config is None:
            self._config = load_config(self.paths)
        return self._config
