#include "shell/find_vmlinux.h"

#include <sys/stat.h>

#include "dumpfmt/dump.h"
#include "symbols/vmlinux.h"

namespace coroner::shell {
namespace {

std::vector<std::string> search_roots() {
  std::vector<std::string> roots;
  const char* env = getenv("CORONER_DEBUG_ROOT");
  std::string list = env && *env ? env : "/";
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    if (colon == std::string::npos) colon = list.size();
    std::string r = list.substr(start, colon - start);
    if (!r.empty()) {
      while (r.size() > 1 && r.back() == '/') r.pop_back();
      roots.push_back(r == "/" ? "" : r);
    }
    start = colon + 1;
  }
  return roots;
}

bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::vector<std::string> vmlinux_candidates(const std::string& release, const std::string& build_id) {
  std::vector<std::string> out;
  for (const std::string& root : search_roots()) {
    if (build_id.size() > 2)
      out.push_back(root + "/usr/lib/debug/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug");
    if (!release.empty()) {
      out.push_back(root + "/usr/lib/debug/boot/vmlinux-" + release);
      out.push_back(root + "/usr/lib/debug/lib/modules/" + release + "/vmlinux");
      out.push_back(root + "/boot/vmlinux-" + release);
      out.push_back(root + "/lib/modules/" + release + "/build/vmlinux");
    }
  }
  return out;
}

Result<std::string> find_vmlinux(const std::vector<std::string>& dumps) {
  auto dump = TRY(dumpfmt::open_dump(dumps));
  dumpfmt::VmcoreInfo vi(dump->info().vmcoreinfo);
  std::string release(vi.get("OSRELEASE").value_or(""));
  std::string build_id(vi.get("BUILD-ID").value_or(""));
  for (auto& c : build_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (release.empty() && build_id.empty())
    return Error::make(Errc::usage,
                       "no vmlinux given, and {} has no VMCOREINFO OSRELEASE or BUILD-ID to find one by: give the "
                       "vmlinux on the command line",
                       dumps[0]);
  std::string looked;
  for (const std::string& path : vmlinux_candidates(release, build_id)) {
    if (!is_file(path)) {
      looked += fmt::format("\n  {}: not found", path);
      continue;
    }
    auto vm = symbols::Vmlinux::open(path);
    if (!vm) {
      looked += fmt::format("\n  {}: {}", path, vm.error().message);
      continue;
    }
    if (!build_id.empty() && !(*vm)->build_id().empty() && (*vm)->build_id() != build_id) {
      looked += fmt::format("\n  {}: build ID {} differs", path, (*vm)->build_id());
      continue;
    }
    return path;
  }
  return Error::make(Errc::not_found,
                     "no vmlinux given, and none found for {} (release {}, build ID {}); looked at:{}\n"
                     "(Debian: install linux-image-{}-dbg; CORONER_DEBUG_ROOT changes the search root)",
                     dumps[0], release.empty() ? "unknown" : release, build_id.empty() ? "unknown" : build_id, looked,
                     release.empty() ? "RELEASE" : release);
}

}  // namespace coroner::shell
