// SPDX-License-Identifier: Apache-2.0
#pragma once
// Defined in the build_info.cpp that cmake/build_info.cmake generates at every build.
namespace stagehand::build_info {
extern const char* const kGitCommit;
extern const bool kGitDirty;
extern const char* const kBuildType;
extern const char* const kCompiler;
}  // namespace stagehand::build_info
