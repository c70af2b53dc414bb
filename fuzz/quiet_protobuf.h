// Included by the fuzz targets that parse protocol buffers: protobuf's parser logs an error line
// for every string field holding invalid UTF-8, which a hostile input does on purpose. The
// parse still fails cleanly (that is what the targets check); the log line only buries the
// sanitizers' reports, so it is switched off for the whole process before the first input.
#ifndef PW_FUZZ_QUIET_PROTOBUF_H_
#define PW_FUZZ_QUIET_PROTOBUF_H_

#include "google/protobuf/stubs/logging.h"

namespace pw::fuzz {

inline const bool kProtobufLogSilenced = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

}  // namespace pw::fuzz

#endif  // PW_FUZZ_QUIET_PROTOBUF_H_
