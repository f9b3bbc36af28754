"""Build hooks; the metadata is in pyproject.toml. build_py adds the generated gRPC stubs (stubgen.py)."""
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # PEP 517 backends do not put the project directory on sys.path
from stubgen import GENERATED_PACKAGE, generate, proto_files, proto_root  # noqa: E402


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        generate(os.path.join(self.build_lib, *GENERATED_PACKAGE.split(".")))


class SdistWithProtos(sdist):
    """An sdist carries the .proto files it was built from, so that it builds on its own."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = proto_root()
        for name in proto_files(root):
            target = os.path.join(base_dir, "proto", name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(root, name), target)


setup(cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProtos})
