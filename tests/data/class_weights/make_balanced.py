#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints scikit-learn's balanced class weights for the label lists that tests/plugins/test_losses.cpp
(ClassWeightsBalancedAsScikitLearn) checks sdk::balanced_class_weights against. Run with Debian's python3-sklearn:
    /usr/bin/python3 tests/data/class_weights/make_balanced.py
Output of scikit-learn 1.2.1 (the values in the test):
    4 classes: [0.625, 1.6666666666666667, 2.5, 0.7142857142857143]
    15 classes: see the test
"""
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

CASES = {
    "4 classes": (4, [0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 2, 0, 1, 0, 0]),
    # 15 classes as in the genre task of issue 25: class c has c + 1 examples, in a shuffled order.
    "15 classes": (15, [c for c in range(15) for _ in range(c + 1)][::-1]),
}

for name, (k, y) in CASES.items():
    print(f"{name}: {compute_class_weight('balanced', classes=np.arange(k), y=y).tolist()}")
