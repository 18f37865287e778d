#include "dumpfmt/notes.h"

#include <algorithm>

namespace coroner::dumpfmt {

namespace {
constexpr uint32_t kNtPrstatus = 1;
constexpr uint64_t align4(uint64_t v) { return (v + 3) & ~uint64_t{3}; }
}  // namespace

Result<void> parse_notes(ByteView notes, std::string_view what, DumpInfo& info) {
  uint64_t off = 0;
  int prstatus_index = 0, qemu_index = 0;
  for (auto& c : info.cpus) (c.kind == CpuNote::Kind::prstatus ? prstatus_index : qemu_index)++;
  while (off + 12 <= notes.size()) {
    uint64_t at = notes.base() + off;
    uint32_t namesz = TRY(notes.u32(off, "note namesz"));
    uint32_t descsz = TRY(notes.u32(off + 4, "note descsz"));
    uint32_t type = TRY(notes.u32(off + 8, "note type"));
    if (namesz == 0 && descsz == 0 && type == 0) break;
    uint64_t name_off = off + 12;
    uint64_t desc_off = name_off + align4(namesz);
    uint64_t next = desc_off + align4(descsz);
    if (desc_off + descsz > notes.size())
      return Error::make(Errc::bad_data, "{}: {} at {:#x}: note at {:#x} (namesz {:#x}, descsz {:#x}) extends past the end at {:#x}",
                         notes.name(), what, notes.base(), at, namesz, descsz, notes.base() + notes.size());
    if (info.notes.size() >= kMaxNotes)
      return Error::make(Errc::out_of_bounds, "{}: {} at {:#x}: more than {} notes", notes.name(), what,
                         notes.base(), kMaxNotes);
    Note note;
    auto name = TRY(notes.cstr(name_off, namesz, "note name"));
    note.name = std::string(name);
    note.type = type;
    auto desc = TRY(notes.sub(desc_off, descsz, "note desc"));
    note.desc.assign(desc.span().begin(), desc.span().end());

    if (note.name == "CORE" && type == kNtPrstatus) {
      info.cpus.push_back(CpuNote{CpuNote::Kind::prstatus, prstatus_index++, note.desc});
    } else if (note.name == "QEMU" && type == 0) {
      info.cpus.push_back(CpuNote{CpuNote::Kind::qemu_cpu_state, qemu_index++, note.desc});
    } else if (note.name == "VMCOREINFO" && info.vmcoreinfo.empty()) {
      std::string text(note.desc.begin(), note.desc.end());
      while (!text.empty() && text.back() == '\0') text.pop_back();
      info.vmcoreinfo = std::move(text);
    }
    info.notes.push_back(std::move(note));
    off = next;
  }
  return ok();
}

void count_cpu_notes(DumpInfo& info) {
  if (info.nr_cpus) return;
  uint32_t prstatus = 0, qemu = 0;
  for (auto& c : info.cpus) (c.kind == CpuNote::Kind::prstatus ? prstatus : qemu)++;
  info.nr_cpus = prstatus ? prstatus : qemu;
}

namespace {
struct MachineName {
  std::string_view uts;
  uint16_t em;
};
// utsname.machine spellings of the architectures a kernel dump can come from.
constexpr MachineName kMachines[] = {
    {"x86_64", 62}, {"aarch64", 183}, {"arm64", 183}, {"i386", 3},    {"i486", 3},     {"i586", 3},
    {"i686", 3},    {"ppc64le", 21},  {"ppc64", 21},  {"ppc", 20},    {"s390x", 22},   {"riscv64", 243},
    {"armv7l", 40}, {"arm", 40},      {"mips64", 8},  {"mips", 8},    {"loongarch64", 258},
};
}  // namespace

uint16_t machine_from_uts(std::string_view uts_machine) {
  for (auto& m : kMachines)
    if (m.uts == uts_machine) return m.em;
  return 0;
}

std::string machine_name(uint16_t e_machine) {
  for (auto& m : kMachines)
    if (m.em == e_machine) return std::string(m.uts);
  return fmt::format("EM_{}", e_machine);
}

}  // namespace coroner::dumpfmt
