// Export of audit records in OCSF shape (Open Cybersecurity Schema
// Framework, 1.3): every record becomes an API Activity event (class_uid
// 6003). See audit/README.md, "OCSF export", for the field mapping.
#pragma once

#include <nlohmann/json.hpp>

namespace portcullis::audit {

// `record` is a record as stored (or as returned by read_recent). Fields
// without an OCSF home go under `unmapped`. Never throws on odd input:
// missing fields are simply absent from the output.
nlohmann::json to_ocsf(const nlohmann::json& record);

}  // namespace portcullis::audit
