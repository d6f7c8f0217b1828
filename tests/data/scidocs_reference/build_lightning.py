#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Builds, in place, the three extensions of scikit-learn-contrib/lightning that its LinearSVC needs
(lightning.impl.randomkit.random_fast, dataset_fast, dual_cd_fast), so that make_expected.py can run SciDocs'
classifier itself. lightning is not packaged for Debian; its full build (numpy.distutils) is not needed for this.

  apt-get install cython3            # Debian 12: Cython 0.29.32
  /usr/bin/python3 build_lightning.py /path/to/lightning-checkout
  LIGHTNING_SRC=/path/to/lightning-checkout /usr/bin/python3 make_expected.py

Compiled with Python's default flags (-O2, no -march): as a distributed x86-64 build, no fused multiply-adds.
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup


def main():
    if len(sys.argv) != 2 or not os.path.isdir(os.path.join(sys.argv[1], "lightning", "impl")):
        sys.exit("usage: build_lightning.py LIGHTNING_CHECKOUT (the folder holding lightning/impl)")
    os.chdir(sys.argv[1])
    inc = [np.get_include(), "lightning/impl/randomkit"]
    impl = "lightning/impl/"
    ext = [
        Extension("lightning.impl.randomkit.random_fast",
                  [impl + "randomkit/random_fast.pyx", impl + "randomkit/randomkit.c"], language="c++",
                  include_dirs=inc),
        Extension("lightning.impl.dataset_fast", [impl + "dataset_fast.pyx"], language="c++", include_dirs=inc),
        Extension("lightning.impl.dual_cd_fast", [impl + "dual_cd_fast.pyx"], language="c++", include_dirs=inc),
    ]
    setup(name="lightning-linearsvc", ext_modules=cythonize(ext, include_path=["."]),
          script_args=["build_ext", "--inplace"])


if __name__ == "__main__":
    main()
