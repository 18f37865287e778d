#include "base/result.h"

namespace coroner {

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::fault: return "fault";
    case Errc::os: return "os";
    case Errc::bad_data: return "bad data";
    case Errc::no_debug_info: return "no debug info";
    case Errc::unsupported: return "unsupported";
    case Errc::out_of_bounds: return "out of bounds";
    case Errc::not_found: return "not found";
    case Errc::mismatch: return "mismatch";
    case Errc::usage: return "usage";
  }
  return "unknown";
}

}  // namespace coroner
