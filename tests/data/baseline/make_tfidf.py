#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints scikit-learn's TfidfVectorizer() (its defaults: lowercase, token_pattern \\b\\w\\w+\\b, smooth idf, l2 norm)
on the three documents that tests/plugins/test_baseline.cpp (TfidfAsScikitLearn) checks the baseline stage's
Vectorizer against. Run with Debian's python3-sklearn:
    /usr/bin/python3 tests/data/baseline/make_tfidf.py
"""
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

DOCS = ["The cat sat on the mat.", "The dog sat; the DOG ran!", "A cat and a dog: friends_42 ok"]
v = TfidfVectorizer()
X = v.fit_transform(DOCS)
print("vocabulary:", [t for t, _ in sorted(v.vocabulary_.items(), key=lambda t: t[1])])
print("idf:", v.idf_.tolist())
for i in range(len(DOCS)):
    row = X[i].toarray()[0]
    print(f"doc {i}:", [(int(j), float(row[j])) for j in np.nonzero(row)[0]])
