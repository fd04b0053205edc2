"""Every data file of the server package ships in its wheel (pyproject's package-data).

An installed (not editable) server, as the API image runs it, has only what package-data
names: a calibration file missing from it made every image search of the image fail with
CalibrationError, while the editable checkout passed every other test.
"""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib

from conftest import REPO_ROOT


def test_every_data_file_of_the_server_package_is_package_data() -> None:
    package_data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    tracked = subprocess.run(["git", "ls-files", "server/imagesearch"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    data_files = [p for p in tracked if not p.endswith(".py")]
    assert data_files, "expected data files (the ImageNet class names, the score calibrations)"
    for path in data_files:
        folder, name = path.removeprefix("server/").rsplit("/", 1)
        covered = any(
            (folder + "/" + name).startswith(package.replace(".", "/") + "/")
            and fnmatch.fnmatch((folder + "/" + name).removeprefix(package.replace(".", "/") + "/"), pattern)
            for package, patterns in package_data.items() for pattern in patterns
        )
        assert covered, f"{path} is not in [tool.setuptools.package-data]: an installed server would lack it"
