// extend: loads and unloads command plugins, shared objects built against the C interface in
// include/coroner/plugin.h (examples/plugin/ is one). Layout after crash's `extend`:
//
//   coroner> extend ./hello.so
//   ./hello.so: shared object loaded
//   coroner> extend
//   SHARED OBJECT  COMMANDS
//   ./hello.so     hello
//   coroner> extend -u ./hello.so
//   ./hello.so: shared object unloaded
//
// A name without a slash is looked for in the current directory, then in CORONER_EXTENSIONS
// (colon-separated directories), as crash looks in CRASH_EXTENSIONS.
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdarg>
#include <memory>

#include "commands/builtin.h"
#include "include/coroner/plugin.h"
#include "kernel/kernel.h"

namespace coroner::commands {
namespace {

// What a plugin's host pointer leads back to during one call.
struct CallContext {
  Session* session;
  Output* out;
  std::string error;
  bool stopped = false;
};

CallContext& ctx(const coroner_host* h) { return *static_cast<CallContext*>(h->context); }

int host_printf(const coroner_host* h, const char* format, ...) {
  CallContext& c = ctx(h);
  if (c.stopped || interrupt_requested()) return c.stopped = true, 1;
  va_list ap, ap2;
  va_start(ap, format);
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, format, ap);
  va_end(ap);
  std::string text(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(text.data(), text.size() + 1, format, ap2);
  va_end(ap2);
  try {
    c.out->write(text);  // the C plugin must not see the C++ exception: remember it instead
  } catch (const OutputStopped&) {
    c.stopped = true;
    return 1;
  }
  return 0;
}

void host_error(const coroner_host* h, const char* message) { ctx(h).error = message ? message : ""; }

int host_read_kernel(const coroner_host* h, uint64_t address, void* buffer, size_t len) {
  auto r = ctx(h).session->kernel.read(address, std::span<uint8_t>(static_cast<uint8_t*>(buffer), len));
  return r ? 0 : -1;
}

int host_symbol_address(const coroner_host* h, const char* name, uint64_t* address) {
  auto a = ctx(h).session->kernel.symbols().address_of(name ? name : "");
  if (!a) return -1;
  *address = *a;
  return 0;
}

int host_symbolize(const coroner_host* h, uint64_t address, char* buffer, size_t size) {
  auto hit = ctx(h).session->kernel.symbols().lookup(address);
  if (!hit || size == 0) return -1;
  std::string s = hit->offset ? fmt::format("{}+{:#x}", hit->symbol->name, hit->offset) : std::string(hit->symbol->name);
  size_t n = std::min(s.size(), size - 1);
  std::copy_n(s.data(), n, buffer);
  buffer[n] = '\0';
  return 0;
}

int host_member_offset(const coroner_host* h, const char* type, const char* member, uint64_t* offset) {
  auto off = ctx(h).session->kernel.offset_of(type ? type : "", member ? member : "");
  if (!off) return -1;
  *offset = *off;
  return 0;
}

int host_interrupted(const coroner_host*) { return interrupt_requested() ? 1 : 0; }

struct Loaded {
  std::string path;
  void* handle;
};
std::vector<Loaded>& loaded() {
  static std::vector<Loaded> objects;
  return objects;
}

coroner_host make_host(CallContext* c) {
  coroner_host h{};
  h.abi_version = CORONER_PLUGIN_ABI;
  h.size = sizeof(coroner_host);
  h.context = c;
  h.printf = host_printf;
  h.error = host_error;
  h.read_kernel = host_read_kernel;
  h.symbol_address = host_symbol_address;
  h.symbolize = host_symbolize;
  h.member_offset = host_member_offset;
  h.interrupted = host_interrupted;
  return h;
}

Handler wrap(const coroner_command& pc) {
  auto run = pc.run;
  std::string name = pc.name;
  return [run, name](Session& s, const Args& args, Output& out) -> Result<void> {
    CallContext c{&s, &out, {}};
    coroner_host h = make_host(&c);
    std::vector<std::string> words{name};
    words.insert(words.end(), args.words.begin(), args.words.end());
    std::vector<const char*> argv;
    for (auto& w : words) argv.push_back(w.c_str());
    argv.push_back(nullptr);
    int rc = run(&h, static_cast<int>(words.size()), argv.data());
    if (c.stopped && interrupt_requested()) throw OutputStopped{"interrupted"};
    if (rc != 0) return Error::make(Errc::usage, "{}", c.error.empty() ? "failed" : c.error);
    return ok();
  };
}

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// crash's search: as given when it has a slash, else ./NAME, then each CORONER_EXTENSIONS dir.
std::string resolve(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  if (is_file(name)) return "./" + name;
  if (const char* dirs = getenv("CORONER_EXTENSIONS")) {
    std::string list = dirs;
    size_t start = 0;
    while (start <= list.size()) {
      size_t colon = std::min(list.find(':', start), list.size());
      std::string d = list.substr(start, colon - start);
      if (!d.empty() && is_file(d + "/" + name)) return d + "/" + name;
      start = colon + 1;
    }
  }
  return "./" + name;
}

Result<void> load(Session& s, const std::string& name, Output& out) {
  std::string path = resolve(name);
  for (auto& l : loaded())
    if (l.path == path) return Error::make(Errc::usage, "{}: shared object already loaded", path);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return Error::make(Errc::os, "{}: cannot load: {}", path, dlerror());
  auto init = reinterpret_cast<coroner_plugin_init_fn>(dlsym(handle, "coroner_plugin_init"));
  if (!init) {
    dlclose(handle);
    return Error::make(Errc::bad_data, "{}: no coroner_plugin_init (not a coroner plugin)", path);
  }
  CallContext c{&s, &out, {}};
  coroner_host h = make_host(&c);
  const coroner_command* table = nullptr;
  size_t count = 0;
  if (init(&h, &table, &count) != 0 || (count && !table)) {
    dlclose(handle);
    return Error::make(Errc::unsupported, "{}: the plugin refused to load{}{}", path, c.error.empty() ? "" : ": ", c.error);
  }
  if (count > 1000) {
    dlclose(handle);
    return Error::make(Errc::bad_data, "{}: {} commands: too many", path, count);
  }
  std::vector<Command> cmds;
  for (size_t i = 0; i < count; ++i) {
    const coroner_command& pc = table[i];
    if (!pc.name || !pc.run) {
      dlclose(handle);
      return Error::make(Errc::bad_data, "{}: command {} has no name or no function", path, i);
    }
    CommandSpec spec;
    spec.name = pc.name;
    spec.summary = pc.summary ? pc.summary : "";
    spec.usage = pc.usage ? pc.usage : "";
    for (const coroner_option* o = pc.options; o && o->flag; ++o)
      spec.options.push_back({o->flag, o->takes_argument != 0, o->help ? o->help : ""});
    for (const char* const* e = pc.examples; e && *e; ++e) spec.examples.push_back(*e);
    cmds.push_back(Command{std::move(spec), wrap(pc)});
  }
  if (auto r = add_extension_commands(path, std::move(cmds)); !r) {
    dlclose(handle);
    return r;
  }
  loaded().push_back({path, handle});
  out.print("{}: shared object loaded\n", path);
  return ok();
}

Result<void> unload(const std::string& path, Output& out) {
  auto& objs = loaded();
  auto it = std::find_if(objs.begin(), objs.end(), [&](const Loaded& l) { return l.path == path || l.path == resolve(path); });
  if (it == objs.end()) return Error::make(Errc::not_found, "{}: not loaded", path);
  remove_extension_commands(it->path);
  if (auto fini = reinterpret_cast<coroner_plugin_fini_fn>(dlsym(it->handle, "coroner_plugin_fini"))) fini();
  dlclose(it->handle);
  out.print("{}: shared object unloaded\n", it->path);
  objs.erase(it);
  return ok();
}

Result<void> run_extend(Session& s, const Args& args, Output& out) {
  if (args.has('u')) {
    if (args.positional.empty()) {
      while (!loaded().empty()) TRY(unload(loaded().back().path, out));
      return ok();
    }
    for (auto& p : args.positional) TRY(unload(p, out));
    return ok();
  }
  if (args.positional.empty() || args.has('s')) {
    if (loaded().empty()) {
      out.print("no shared objects loaded\n");
      return ok();
    }
    size_t width = std::string_view("SHARED OBJECT").size();
    for (auto& l : loaded()) width = std::max(width, l.path.size());
    out.print("{:<{}}  COMMANDS\n", "SHARED OBJECT", width);
    for (auto& [owner, cmds] : extension_commands()) {
      std::string names;
      for (auto* c : cmds) names += c->spec.name + " ";
      out.print("{:<{}}  {}\n", owner, width, names);
    }
    return ok();
  }
  for (auto& p : args.positional) TRY(load(s, p, out));
  return ok();
}

}  // namespace

std::vector<Command> extend_commands() {
  return {Command{CommandSpec{"extend",
                              {},
                              "extend the coroner command set",
                              "[shared-object ...] | [-u [shared-object ...]] | -s",
                              {{'u', false, "unload the named shared objects (all of them without a name)"},
                               {'s', false, "show the loaded shared objects and their commands"}},
                              {"extend ./libcoroner_hello.so", "extend", "extend -u ./libcoroner_hello.so"}},
                  run_extend}};
}

}  // namespace coroner::commands
