// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Symbols of the plugin SDK (libstagehand_sdk) that plugins may use. The SDK is built with hidden visibility like
/// the core; what is marked STAGEHAND_SDK_API is exported. A class that plugins share across .so boundaries (a
/// typed interface one plugin implements and another dynamic_casts to) is marked so and has an out-of-line key
/// function (its destructor) in sdk/src/, so that its type info exists once, in the SDK.
#define STAGEHAND_SDK_API __attribute__((visibility("default")))
