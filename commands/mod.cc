// mod: the loaded modules, as crash's `mod` lists them; `mod -t` shows their taints;
// `mod -s/-S` load modules' object files (symbols and DWARF), `mod -d/-D` forget them.
#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "commands/builtin.h"
#include "commands/support/json.h"
#include "kernel/kernel.h"
#include "kernel/modules.h"

namespace coroner::commands {
namespace {

// crash's mkstring(CENTER|LJUST): the text centred, the odd space on the right.
std::string centered(std::string_view text, size_t width) {
  if (text.size() >= width) return std::string(text);
  size_t left = (width - text.size()) / 2;
  return fmt::format("{}{}{}", std::string(left, ' '), text, std::string(width - text.size() - left, ' '));
}

constexpr size_t kAddrWidth = 16;  // crash's VADDR_PRLEN on 64-bit machines

// The header and rows of crash's module table; widths come from every module, whichever
// rows are shown.
struct TableLayout {
  size_t name_width = 4, size_width = 4;  // at least "NAME", "SIZE"
};

TableLayout layout(const kernel::ModuleTable& table) {
  TableLayout l;
  for (const auto& m : table.modules()) {
    l.name_width = std::max(l.name_width, m.name.size());
    l.size_width = std::max(l.size_width, fmt::formatted_size("{}", m.size));
  }
  return l;
}

void print_header(const kernel::ModuleTable& table, const TableLayout& l, Output& out) {
  out.print("{}  {:<{}}  {}  {:>{}}  OBJECT FILE\n", centered("MODULE", kAddrWidth), "NAME", l.name_width,
            centered(table.memory_regions() ? "TEXT_BASE" : "BASE", kAddrWidth), "SIZE", l.size_width);
}

void print_row(const kernel::Module& m, const TableLayout& l, Output& out) {
  std::string object = !m.object_file.empty() ? m.object_file
                                              : fmt::format("(not loaded){}", m.has_kallsyms ? "  [CONFIG_KALLSYMS]" : "");
  out.print("{:>16x}  {:<{}}  {:>16x}  {:>{}}  {}\n", m.address, m.name, l.name_width, m.base, m.size, l.size_width,
            object);
}

Result<void> list_modules(const kernel::ModuleTable& table, Output& out) {
  const auto& mods = table.modules();
  if (mods.empty()) {
    out.print("mod: no modules installed\n");
    return ok();
  }
  TableLayout l = layout(table);
  print_header(table, l, out);
  for (const auto& m : mods) print_row(m, l, out);
  for (const auto& m : mods)
    if (!m.symbols_error.empty()) out.print("mod: {}\n", m.symbols_error);
  return ok();
}

// --json / -j: {"modules":[{name, module, base, size, object_file, kallsyms}], "errors":[...]}
// (base: the text's BASE or TEXT_BASE column; object_file null until mod -s/-S loaded one).
void print_modules_json(const kernel::ModuleTable& table, Output& out) {
  json::Writer w;
  w.object().field("command", "mod").key("modules").array();
  for (const auto& m : table.modules()) {
    w.object().field("name", m.name).address_field("module", m.address).address_field("base", m.base);
    w.field("size", m.size);
    if (m.object_file.empty()) w.null_field("object_file");
    else w.field("object_file", m.object_file);
    w.field("kallsyms", m.has_kallsyms).end();
  }
  w.end().key("errors").array();
  for (const auto& m : table.modules())
    if (!m.symbols_error.empty()) w.string(m.symbols_error);
  w.end().end().print_line(out);
}

constexpr std::string_view kUsage =
    "Usage:\n  mod -s module [objfile] | -d module | -S [directory] [-D|-t|-r|-R|-o|-g]\n"
    "Enter \"help mod\" for details.\n";

// crash's refusal: its usage, and a failed command with nothing more to say.
Error usage(Output& out) {
  out.write(kUsage);
  return Error{Errc::usage, "", std::nullopt};
}

namespace fs = std::filesystem;

// Object files under directory trees, walked once: crash's search for NAME.ko (it accepts
// '-' for '_' in the file name, as module files are often named) or NAME.ko.debug, the first
// match in the order the trees are given, then in path order.
class ObjectSearch {
 public:
  explicit ObjectSearch(const std::vector<std::string>& dirs) {
    constexpr size_t kMaxEntries = 1u << 20;  // a bound on the walk of a huge tree
    for (const auto& dir : dirs) {
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) continue;
      std::map<std::string, std::string> found;  // file name -> first path
      fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
      for (size_t seen = 0; !ec && it != end && seen < kMaxEntries; it.increment(ec), seen++) {
        std::string file = it->path().filename().string();
        if (!file.ends_with(".ko") && !file.ends_with(".ko.debug")) continue;
        if (!it->is_regular_file(ec)) continue;
        auto [pos, added] = found.emplace(file, it->path().string());
        if (!added && it->path().string() < pos->second) pos->second = it->path().string();
      }
      trees_.push_back(std::move(found));
    }
  }

  std::optional<std::string> find(std::string_view name) const {
    std::string dashed(name);
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    for (const auto& tree : trees_)
      for (const std::string& n : {std::string(name), dashed})
        for (const char* ext : {".ko", ".ko.debug"})
          if (auto it = tree.find(n + ext); it != tree.end()) return it->second;
    return std::nullopt;
  }

 private:
  std::vector<std::map<std::string, std::string>> trees_;
};

// crash's default search: /lib/modules/RELEASE, then the directory holding the vmlinux.
std::vector<std::string> default_dirs(kernel::Kernel& k) {
  std::vector<std::string> dirs{fmt::format("/lib/modules/{}", k.vmlinux_release())};
  std::error_code ec;
  fs::path vm = fs::absolute(k.vmlinux_path(), ec);
  if (!ec) dirs.push_back(vm.parent_path().string());
  return dirs;
}

// `mod -s NAME [FILE]`: the module's row once its object file is loaded.
Result<void> load_one(kernel::Kernel& k, const Args& args, Output& out) {
  if (args.positional.size() > 1) return usage(out);
  const kernel::ModuleTable* table = TRY(kernel::modules(k));
  std::string name = args.value('s');
  const kernel::Module* m = table->find(name);
  if (!m) return usage(out);  // crash: not a module of this kernel
  if (!m->object) {
    std::string path;
    if (!args.positional.empty()) {
      path = args.positional[0];
    } else if (auto found = ObjectSearch(default_dirs(k)).find(name)) {
      path = *found;
    } else {
      return Error::make(Errc::not_found, "cannot find or load object file for {} module", name);
    }
    auto loaded = kernel::load_module_object(k, name, path);
    if (!loaded) {
      out.print("mod: {}\n", loaded.error().message);
      if (loaded.error().code == Errc::bad_data) out.write(kUsage);
      return Error{loaded.error().code, "", std::nullopt};
    }
    m = *loaded;
  }
  TableLayout l = layout(*table);
  print_header(*table, l, out);
  print_row(*m, l, out);
  return ok();
}

// `mod -S [DIR]`: every module's object file from DIR's tree (or crash's default places).
Result<void> load_all(kernel::Kernel& k, const Args& args, Output& out) {
  if (args.positional.size() > 1) return usage(out);
  std::vector<std::string> dirs;
  if (!args.positional.empty()) {
    std::error_code ec;
    if (!fs::is_directory(args.positional[0], ec)) {
      out.print("mod: {} is not a directory\n", args.positional[0]);
      return usage(out);
    }
    dirs.push_back(args.positional[0]);
  } else {
    dirs = default_dirs(k);
  }
  const kernel::ModuleTable* table = TRY(kernel::modules(k));
  ObjectSearch objects(dirs);
  TableLayout l = layout(*table);
  print_header(*table, l, out);
  bool failed = false;
  for (const auto& m : table->modules()) {
    if (!m.object) {
      auto path = objects.find(m.name);
      if (!path || !kernel::load_module_object(k, m.name, *path)) {
        out.print("mod: cannot find or load object file for {} module\n", m.name);
        failed = true;
        continue;
      }
    }
    print_row(m, l, out);
  }
  if (failed) return Error{Errc::not_found, "", std::nullopt};
  return ok();
}

// `mod -t`: each tainted module's taint letters from the kernel's own taint_flags table.
// In JSON: {"taints":[{name, taint}]}, empty when no module is tainted.
Result<void> list_taints(kernel::Kernel& k, const kernel::ModuleTable& table, Output& out, bool json_out) {
  struct Row {
    std::string name, taint;
  };
  std::vector<Row> rows;
  auto flags = k.symbol("taint_flags");
  auto flag_size = k.types().size_of_name("taint_flag");
  auto c_true = k.offset_of("taint_flag", "c_true");
  for (const auto& m : table.modules()) {
    uint64_t taints = TRY(k.member_uint(m.address, "module", "taints"));
    if (taints == 0) continue;
    std::string letters;
    for (int bit = 0; bit < 64; bit++) {
      if (!(taints & (1ull << bit))) continue;
      std::optional<char> c;
      if (flags && flag_size && c_true)
        if (auto v = k.read_as<char>(*flags + bit * *flag_size + *c_true)) c = *v;
      if (!c || *c == 0) {
        letters = fmt::format("{:x}", taints);  // crash shows the raw value when it cannot translate
        break;
      }
      letters += *c;
    }
    rows.push_back({m.name, letters});
  }
  if (json_out) {
    json::Writer w;
    w.object().field("command", "mod").key("taints").array();
    for (const auto& r : rows) w.object().field("name", r.name).field("taint", r.taint).end();
    w.end().end().print_line(out);
    return ok();
  }
  if (rows.empty()) {
    out.print("no tainted modules\n");
    return ok();
  }
  size_t width = 4;
  for (const auto& r : rows) width = std::max(width, r.name.size());
  out.print("{:<{}}  TAINTS\n", "NAME", width);
  for (const auto& r : rows) out.print("{:<{}}  {}\n", r.name, width, r.taint);
  return ok();
}

Result<void> run_mod(Session& s, const Args& args, Output& out) {
  for (char unsupported : {'r', 'R', 'o', 'g'})
    if (args.has(unsupported)) return Error::make(Errc::unsupported, "-{}: not supported", unsupported);
  bool json_out = json::wanted(s, args);
  if (json_out && (args.has('s') || args.has('S') || args.has('d') || args.has('D')))
    return Error::make(Errc::usage, "-s, -S, -d and -D have no JSON output (load without --json, then mod -j)");
  if (args.has('s')) return load_one(s.kernel, args, out);
  if (args.has('S')) return load_all(s.kernel, args, out);
  if (args.has('d')) {
    const kernel::ModuleTable* table = TRY(kernel::modules(s.kernel));
    if (!table->find(args.value('d')) || !args.positional.empty()) return usage(out);
    return kernel::unload_module_object(s.kernel, args.value('d'));
  }
  if (args.has('D')) {
    kernel::unload_all_module_objects(s.kernel);
    return ok();
  }
  const kernel::ModuleTable* table = TRY(kernel::modules(s.kernel));
  if (args.has('t')) return list_taints(s.kernel, *table, out, json_out);
  if (json_out) {
    print_modules_json(*table, out);
    return ok();
  }
  return list_modules(*table, out);
}

}  // namespace

std::vector<Command> mod_commands() {
  return {json::capable(Command{
      CommandSpec{"mod",
                  {},
                  "module information and loading of symbols and debugging data",
                  "-s module [objfile] | -d module | -S [directory] [-D|-t|-r|-R|-o|-g]",
                  {{'t', false, "display the contents of each module's taints bitmask if non-zero"},
                   {'s', true,
                    "load the symbols and DWARF of a module from objfile, or from NAME.ko found under "
                    "/lib/modules/<release> or the vmlinux's directory"},
                   {'S', false, "load the symbols and DWARF of every module from NAME.ko files under directory"},
                   {'d', true, "delete a module's symbolic and debugging data"},
                   {'D', false, "delete the symbolic and debugging data of all modules"},
                   {'r', false, "pass -readnow when loading (not supported)"},
                   {'R', false, "reinitialize module data (live systems only)"},
                   {'o', false, "load module symbols with the old mechanism (not supported)"},
                   {'g', false, "add section start and end symbols with -s/-S (not supported)"},
                   {'j', false, "JSON: the module list (or -t's taints) as one document"}},
                  {"mod", "mod -t", "mod -S /usr/lib/debug/lib/modules/6.1.0-56-cloud-amd64",
                   "mod -s virtio_ring virtio_ring.ko", "mod -d virtio_ring"}},
      run_mod})};
}

}  // namespace coroner::commands
