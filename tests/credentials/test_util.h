// Helpers shared by the credentials tests: the file helpers of
// tests/common/temp_files.h in this namespace.
#pragma once

#include "tests/common/temp_files.h"

namespace portcullis::credentials::testing {

using portcullis::testing::read_all;
using portcullis::testing::TempDir;
using portcullis::testing::write_all;

}  // namespace portcullis::credentials::testing
