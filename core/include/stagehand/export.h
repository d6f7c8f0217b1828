// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Symbols of the core library that plugins and the runner may use. The core is built with hidden
/// visibility; only what is marked STAGEHAND_API is exported (one registry, one set of type info).
#define STAGEHAND_API __attribute__((visibility("default")))
