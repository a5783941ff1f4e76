// A valid shared object that is not a boxcar plugin: it exports no descriptor.
extern "C" __attribute__((visibility("default"))) int boxcar_not_a_plugin() { return 42; }
