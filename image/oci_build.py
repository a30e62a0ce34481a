"""Build the operator's OCI image without a container engine (`scripts/dev image`).

The Dockerfile is the recipe for users with an engine; this builder makes the same image from parts any
Debian machine can reach, reading the same declarations, so the two cannot drift apart:

- the Debian suite (the Dockerfile's `ARG DEBIAN_SUITE`, with its -updates and -security suites) and
  `image/debian-packages.txt`: a `minbase` root file system made by `mmdebstrap` with the packages installed without Recommends and the documentation,
  man pages and locales left out (what `debian:<suite>-slim` leaves out);
- `image/requirements.txt` (pinned wheels from PyPI) and the package's own wheel, installed with pypa's
  `installer` into `/opt/venv`, a venv over Debian's `/usr/bin/python3` as `python3 -m venv` lays it out,
  byte-compiled with unchecked-hash pycs (the root file system is read-only at run time);
- the runtime stage's USER, ENV, WORKDIR, EXPOSE, LABEL and ENTRYPOINT, parsed from the Dockerfile into the
  image config.

The result is an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
with three layers: Debian, the dependencies, the operator. Each layer is a reproducible tar (sorted, owned
by root, fixed mtimes), so unchanged inputs give the same digests. The Debian layer is cached under
`~/.cache/transit-operator/image-<key>/`, the key hashing the suite, the package list and how it is made,
and the dependency layer under `~/.cache/transit-operator/image-layers/`: a rebuild after a code change only
rebuilds the operator's layer. Push the layout with any OCI tool, e.g.
`skopeo copy oci:build/image:0.1.0 docker://ghcr.io/transit-operator/transit-operator:0.1.0`.

    python image/oci_build.py [--output DIR]     build (default output: build/image)
    python image/oci_build.py --lock             re-resolve image/requirements.txt from pyproject.toml
    python image/oci_build.py --refresh-base     make the Debian layer again (today's security updates)
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
PACKAGES = REPO / "image" / "debian-packages.txt"
REQUIREMENTS = REPO / "image" / "requirements.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transit-operator"
DEFAULT_OUTPUT = REPO / "build" / "image"

MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"


def debian_sources(suite: str) -> list[str]:
    """The suite with its point-release updates and security updates, as Debian's own images list them."""
    return [f"deb {MIRROR} {suite} main", f"deb {MIRROR} {suite}-updates main",
            f"deb {SECURITY_MIRROR} {suite}-security main"]

# What debian:<suite>-slim leaves out (docker-debian-artifacts' slimify excludes), as dpkg path filters.
SLIM_DPKG_OPTIONS = [
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/lintian/*",
]
# Merged /usr the way debootstrap (and so Debian's own images) make it: symlinks and the usr-is-merged
# package, not the `usrmerge` converter, which would pull in perl.
MERGED_USR_HOOK = "/usr/share/mmdebstrap/hooks/merged-usr"
# The PATH of Debian's images, which the Dockerfile's `ENV PATH=/opt/venv/bin:$PATH` extends.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VENV = "/opt/venv"
# mtime of every file in the layers we write and `created` of the image: 1980-01-01, the zip epoch.
EPOCH = 315532800
# Bump when the way a layer is made changes, so cached layers made the old way are not reused.
BASE_RECIPE = 1
DEPS_RECIPE = 2
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def log(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- the recipe


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    result = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _pairs(arguments: str) -> dict[str, str]:
    """`KEY=value KEY2="v a l"` (ENV, LABEL, ARG) as a dict."""
    return dict(word.split("=", 1) for word in shlex.split(arguments))


@dataclass(frozen=True)
class Recipe:
    """What goes into the image: read from the Dockerfile and the files it copies from image/."""

    suite: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...]  # "name==version"
    user: str
    env: tuple[str, ...]  # "KEY=value", in order
    workdir: str
    entrypoint: tuple[str, ...]
    labels: dict[str, str]
    exposed_ports: tuple[str, ...]  # "8080/tcp"
    version: str

    @classmethod
    def read(cls, repo: Path = REPO) -> Recipe:
        instructions = dockerfile_instructions((repo / "Dockerfile").read_text())
        args = {k: v for word, rest in instructions if word == "ARG" and "=" in rest for k, v in _pairs(rest).items()}
        last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
        runtime = instructions[last_from:]
        env: dict[str, str] = {"PATH": BASE_PATH}
        labels: dict[str, str] = {}
        user = workdir = ""
        entrypoint: list[str] = []
        ports: list[str] = []
        for word, rest in runtime:
            if word == "ENV":
                for key, value in _pairs(rest).items():
                    env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
            elif word == "LABEL":
                labels.update(_pairs(rest))
            elif word == "USER":
                user = rest
            elif word == "WORKDIR":
                workdir = rest
            elif word == "ENTRYPOINT":
                entrypoint = json.loads(rest)
            elif word == "EXPOSE":
                ports += [p if "/" in p else f"{p}/tcp" for p in rest.split()]
            elif word == "CMD":
                raise ValueError("Dockerfile: CMD in the runtime stage is not supported (flags come from the chart)")
        version = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"]
        return cls(
            suite=args["DEBIAN_SUITE"],
            packages=tuple(_listed(repo / "image" / "debian-packages.txt")),
            requirements=tuple(_listed(repo / "image" / "requirements.txt")),
            user=user,
            env=tuple(f"{k}={v}" for k, v in env.items()),
            workdir=workdir,
            entrypoint=tuple(entrypoint),
            labels={**labels, "org.opencontainers.image.version": version},
            exposed_ports=tuple(ports),
            version=version,
        )


def _listed(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


# ---------------------------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class Layer:
    """One gzip'd tar blob: `digest` of the compressed bytes, `diff_id` of the tar (OCI image config)."""

    path: str
    digest: str
    diff_id: str
    size: int
    created_by: str

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": LAYER_MEDIA_TYPE, "digest": self.digest, "size": self.size}


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes (and counts) what passes through to `target`."""

    def __init__(self, target: BinaryIO | None) -> None:
        self.target, self.sha, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha.update(data)
        self.size += len(data)
        if self.target is not None:
            self.target.write(data)
        return len(data)


def write_layer(path: Path, created_by: str, fill: Callable[[tarfile.TarFile], None]) -> Layer:
    """Write a gzip'd tar to `path`; `fill` adds the members. Digests are computed on the way."""
    with path.open("wb") as raw:
        compressed = _Hashing(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=6) as gz:  # type: ignore[arg-type]
            uncompressed = _Hashing(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                fill(tar)
    return Layer(str(path), f"sha256:{compressed.sha.hexdigest()}", f"sha256:{uncompressed.sha.hexdigest()}",
                 compressed.size, created_by)


def add_tree(tar: tarfile.TarFile, root: Path) -> None:
    """Every entry under `root` (its paths relative to it), sorted, owned by root, mtime EPOCH."""
    for path in sorted(_walk(root)):
        relative = path.relative_to(root).as_posix()
        info = tar.gettarinfo(str(path), arcname=relative)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = EPOCH
        if info.isreg():
            with path.open("rb") as handle:
                tar.addfile(info, handle)
        else:
            tar.addfile(info)


def _walk(root: Path) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        if here != root:
            yield here
        for name in files:
            yield here / name
        for name in dirs:  # symlinks to directories are listed in dirs but not descended into
            if (here / name).is_symlink():
                yield here / name


def base_key(recipe: Recipe) -> str:
    inputs = {"suite": recipe.suite, "packages": sorted(recipe.packages), "sources": debian_sources(recipe.suite),
              "dpkg": SLIM_DPKG_OPTIONS, "hook": Path(MERGED_USR_HOOK).name, "epoch": EPOCH, "recipe": BASE_RECIPE}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def build_base(recipe: Recipe, *, refresh: bool = False) -> tuple[Layer, str]:
    """The Debian layer and its Python version ("3.11.2"), from the cache or made with mmdebstrap.
    `refresh`: make it again (the cache key says which packages, not which of their security updates)."""
    directory = CACHE / f"image-{base_key(recipe)}"
    meta = directory / "layer.json"
    if refresh:
        shutil.rmtree(directory, ignore_errors=True)
    if meta.is_file():
        saved = json.loads(meta.read_text())
        return Layer(**saved["layer"]), saved["python"]
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("image: mmdebstrap is missing (apt-get install mmdebstrap; scripts/dev bootstrap does it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="image-base-", dir=CACHE))
    try:
        rootfs = work / "rootfs.tar"
        command = ["mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(recipe.packages)}",
                   '--aptopt=APT::Install-Recommends "false"', f"--hook-dir={MERGED_USR_HOOK}",
                   *[f"--dpkgopt={option}" for option in SLIM_DPKG_OPTIONS],
                   recipe.suite, str(rootfs), *debian_sources(recipe.suite)]
        log(f"Debian {recipe.suite} + {', '.join(recipe.packages)}: {shlex.join(command)}")
        result = subprocess.run(command, env={**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"image: mmdebstrap failed ({result.returncode}):\n{result.stdout[-4000:]}")
        python = _python_version(rootfs)
        created_by = f"mmdebstrap --variant=minbase {recipe.suite} + {' '.join(recipe.packages)}"

        def fill(tar: tarfile.TarFile) -> None:
            with tarfile.open(rootfs) as source:
                for member in source:
                    member.name = member.name.removeprefix("./")
                    if member.name in ("", "."):
                        continue
                    if member.islnk():
                        member.linkname = member.linkname.removeprefix("./")
                    tar.addfile(member, source.extractfile(member) if member.isreg() else None)

        layer = write_layer(work / "layer.tar.gz", created_by, fill)
        rootfs.unlink()
        layer = Layer(**{**asdict(layer), "path": str(directory / "layer.tar.gz")})
        (work / "layer.json").write_text(json.dumps({"layer": asdict(layer), "python": python}, indent=2))
        work.rename(directory)
        return layer, python
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _python_version(rootfs_tar: Path) -> str:
    """Debian's python3.11 version in the root file system (dpkg's status), e.g. "3.11.2"."""
    with tarfile.open(rootfs_tar) as tar:
        handle = tar.extractfile("./var/lib/dpkg/status")
        assert handle is not None
        status = handle.read().decode()
    match = re.search(r"^Package: python3\.(\d+)-minimal\n(?:.+\n)*?Version: (\d+\.\d+\.\d+)", status, re.MULTILINE)
    if match is None:
        raise SystemExit("image: no python3.X-minimal in the Debian root file system; is python3 in debian-packages.txt?")
    return match.group(2)


# ---------------------------------------------------------------------------------------------- wheels


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def download_wheels(requirements: tuple[str, ...], python: str) -> list[Path]:
    """The pinned wheels for the image's CPython on x86_64 glibc, from the cache or PyPI."""
    wheelhouse = CACHE / "wheels"
    wheelhouse.mkdir(parents=True, exist_ok=True)

    def cached(pin: str) -> Path | None:
        name, version = pin.split("==")
        for path in wheelhouse.glob("*.whl"):
            dist, wheel_version = path.name.split("-")[:2]
            if _canonical(dist) == _canonical(name) and wheel_version == version:
                return path
        return None

    missing = [pin for pin in requirements if cached(pin) is None]
    if missing:
        major_minor = ".".join(python.split(".")[:2])
        abi = "cp" + major_minor.replace(".", "")
        # pip expands no manylinux tags for a foreign target: list every glibc up to bookworm's 2.36.
        platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)]
        platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "any"]
        log(f"pip download {len(missing)} wheels for CPython {major_minor}")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", major_minor, "--implementation", "cp",
                        "--abi", abi, "--abi", "abi3", "--abi", "none",
                        *[arg for platform in platforms for arg in ("--platform", platform)],
                        "--dest", str(wheelhouse), *missing], check=True)
    found = [cached(pin) for pin in requirements]
    if None in found:
        raise SystemExit(f"image: no wheel for {[p for p, f in zip(requirements, found, strict=True) if f is None]}")
    return [path for path in found if path is not None]


def build_project_wheel(directory: Path) -> Path:
    """The package's wheel, built from the working tree (setuptools from the venv: no isolated build env)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(directory), str(REPO)], check=True)
    (wheel,) = directory.glob("transit_operator-*.whl")
    return wheel


def install_wheels(wheels: list[Path], stage: Path, python: str) -> None:
    """Install into `stage` + /opt/venv as the venv's pip would: scripts run /opt/venv/bin/python."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    major_minor = ".".join(python.split(".")[:2])
    site = f"{VENV}/lib/python{major_minor}/site-packages"
    scheme = {"purelib": site, "platlib": site, "scripts": f"{VENV}/bin", "data": VENV,
              "headers": f"{VENV}/include/site/python{major_minor}"}
    destination = SchemeDictionaryDestination(scheme, interpreter=f"{VENV}/bin/python", script_kind="posix",
                                              destdir=str(stage))
    for wheel in wheels:
        with WheelFile.open(wheel) as source:
            install(source, destination, {"INSTALLER": b"transit-operator image/oci_build.py\n"})
    # Byte-compile as the image will import: paths as seen inside it, unchecked-hash pycs (no mtimes).
    compileall.compile_dir(str(stage / site.lstrip("/")), quiet=1, stripdir=str(stage), prependdir="/",
                           invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH, workers=0)


def lay_out_venv(stage: Path, python: str) -> None:
    """/opt/venv as Debian's `python3 -m venv /opt/venv` lays it out (without pip or activate scripts)."""
    major_minor = ".".join(python.split(".")[:2])
    venv = stage / VENV.lstrip("/")
    (venv / "bin").mkdir(parents=True)
    (venv / "include").mkdir()
    (venv / "lib" / f"python{major_minor}" / "site-packages").mkdir(parents=True)
    (venv / "lib64").symlink_to("lib")
    (venv / "bin" / "python3").symlink_to("/usr/bin/python3")
    (venv / "bin" / "python").symlink_to("python3")
    (venv / "bin" / f"python{major_minor}").symlink_to("python3")
    (venv / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {python}\n"
        f"executable = /usr/bin/python{major_minor}\ncommand = /usr/bin/python3 -m venv {VENV}\n")


def build_dependencies(requirements: tuple[str, ...], python: str) -> Layer:
    wheels = download_wheels(requirements, python)
    inputs = {"wheels": sorted(_sha256(w) for w in wheels), "python": python, "recipe": DEPS_RECIPE, "epoch": EPOCH}
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    directory = CACHE / "image-layers"
    meta = directory / f"dependencies-{key}.json"
    if meta.is_file():
        return Layer(**json.loads(meta.read_text()))
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        stage = Path(tmp) / "stage"
        lay_out_venv(stage, python)
        log(f"installing {len(wheels)} wheels into {VENV}")
        install_wheels(wheels, stage, python)
        layer = write_layer(Path(tmp) / "layer.tar.gz", f"{VENV}: python3 -m venv; pip install -r image/requirements.txt",
                            lambda tar: add_tree(tar, stage))
        final = directory / f"dependencies-{key}.tar.gz"
        os.replace(layer.path, final)
        layer = Layer(**{**asdict(layer), "path": str(final)})
        meta.write_text(json.dumps(asdict(layer), indent=2))
        return layer


def build_operator(python: str, work: Path) -> Layer:
    wheel = build_project_wheel(work / "dist")
    stage = work / "operator"
    stage.mkdir()
    install_wheels([wheel], stage, python)
    return write_layer(work / "operator.tar.gz", f"pip install {wheel.name}", lambda tar: add_tree(tar, stage))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- the layout


def image_config(recipe: Recipe, layers: list[Layer]) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH))
    return {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": recipe.user,
            "Env": list(recipe.env),
            "Entrypoint": list(recipe.entrypoint),
            "WorkingDir": recipe.workdir,
            "Labels": recipe.labels,
            "ExposedPorts": {port: {} for port in recipe.exposed_ports},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": created, "created_by": layer.created_by} for layer in layers],
    }


def write_layout(output: Path, recipe: Recipe, layers: list[Layer]) -> str:
    """An OCI image layout at `output` (replaced), tagged with the package version; returns the manifest digest."""
    if output.exists():
        shutil.rmtree(output)
    blobs = output / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes, media_type: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    for layer in layers:
        target = blobs / layer.digest.removeprefix("sha256:")
        if not target.exists():
            try:
                os.link(layer.path, target)  # the cache is on the same file system: no copy
            except OSError:
                shutil.copyfile(layer.path, target)
    config = blob(json.dumps(image_config(recipe, layers), sort_keys=True).encode(),
                  "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config, "layers": [layer.descriptor() for layer in layers]}
    descriptor = blob(json.dumps(manifest, sort_keys=True).encode(), manifest["mediaType"])
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": recipe.version}
    descriptor["platform"] = {"architecture": "amd64", "os": "linux"}
    (output / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}, indent=2))
    (output / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return str(descriptor["digest"])


@dataclass(frozen=True)
class Built:
    layout: Path
    tag: str
    manifest_digest: str
    layers: tuple[Layer, ...]

    @property
    def compressed_size(self) -> int:
        return sum(layer.size for layer in self.layers)


def build(output: Path = DEFAULT_OUTPUT, *, refresh_base: bool = False) -> Built:
    recipe = Recipe.read()
    started = time.monotonic()
    base, python = build_base(recipe, refresh=refresh_base)
    log(f"Debian layer {base.digest[:19]} ({base.size / 1e6:.1f} MB, Python {python}) "
        f"after {time.monotonic() - started:.1f}s")
    dependencies = build_dependencies(recipe.requirements, python)
    log(f"dependency layer {dependencies.digest[:19]} ({dependencies.size / 1e6:.1f} MB) "
        f"after {time.monotonic() - started:.1f}s")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        operator = build_operator(python, Path(tmp))
        layers = [base, dependencies, operator]
        digest = write_layout(output, recipe, layers)
    built = Built(output, recipe.version, digest, tuple(layers))
    log(f"{output}:{recipe.version} {digest} ({built.compressed_size / 1e6:.1f} MB compressed) "
        f"in {time.monotonic() - started:.1f}s")
    return built


def lock() -> None:
    """Resolve pyproject.toml's dependencies (wheels only) and pin them in image/requirements.txt."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                        "--only-binary=:all:", "--report", str(report), str(REPO)], check=True)
        installs = json.loads(report.read_text())["install"]
    pins = sorted((i["metadata"]["name"], i["metadata"]["version"]) for i in installs
                  if _canonical(i["metadata"]["name"]) != "transit-operator")
    header = [line for line in REQUIREMENTS.read_text().splitlines() if line.startswith("#")]
    REQUIREMENTS.write_text("\n".join([*header, *(f"{name}=={version}" for name, version in
                                                  sorted(pins, key=lambda p: p[0].lower()))]) + "\n")
    log(f"pinned {len(pins)} packages in {REQUIREMENTS.relative_to(REPO)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/dev image", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="OCI image layout directory")
    parser.add_argument("--lock", action="store_true", help="re-pin image/requirements.txt, then build")
    parser.add_argument("--refresh-base", action="store_true",
                        help="make the Debian layer again, with today's security updates, instead of the cached one")
    args = parser.parse_args(argv)
    if args.lock:
        lock()
    built = build(args.output, refresh_base=args.refresh_base)
    print(json.dumps({"layout": str(built.layout), "tag": built.tag, "digest": built.manifest_digest,
                      "compressedBytes": built.compressed_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
