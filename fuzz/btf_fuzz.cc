// The vmlinux's .BTF section: parsed by libbpf behind BtfTypes, then queried the way the
// kernel layer queries it.
#include <cstdint>

#include "symbols/btf_types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = coroner::symbols::BtfTypes::from_bytes(std::span(data, size), "fuzz.btf");
  if (!t) return 0;
  for (const char* name : {"task_struct", "struct list_head", "printk_info", "int"}) {
    auto ref = (*t)->find(name);
    if (!ref) continue;
    (void)(*t)->size_of(*ref);
    (void)(*t)->member(*ref, "tasks.next");
    (void)(*t)->member(*ref, "a[1].b");
    (void)(*t)->array(*ref);
    (void)(*t)->name(*ref);
  }
  (void)(*t)->enumerator("PIDTYPE_PID");
  return 0;
}
