# fuzz targets: coroner_add_fuzzer(NAME file.cc LIBS ...)
