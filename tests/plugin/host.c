/*
 * The host of tests/plugin: dlopen()s the plugin given on the command
 * line and runs its consumer_plugin_run(). The host exports functions
 * named like two of libwsp's (it is linked with -rdynamic); a plugin that
 * left libwsp's symbols exported would have its calls bound to these and
 * fail its version check.
 *
 *   host PLUGIN.so
 */
#include <dlfcn.h>
#include <stdio.h>

#include <wsp.h>

unsigned wsp_version(void) { return 0; }

const char *wsp_version_string(void) { return "of the host"; }

int main(int argc, char **argv) {
  int (*run)(char *msg, size_t cap);
  char msg[512];
  void *plugin;
  int rv;

  if (argc != 2) {
    fprintf(stderr, "usage: host PLUGIN.so\n");
    return 2;
  }
  plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!plugin) {
    fprintf(stderr, "host: %s\n", dlerror());
    return 2;
  }
  *(void **)&run = dlsym(plugin, "consumer_plugin_run");
  if (!run) {
    fprintf(stderr, "host: %s\n", dlerror());
    dlclose(plugin);
    return 2;
  }
  rv = run(msg, sizeof(msg));
  printf("host: the plugin says: %s\n", msg);
  dlclose(plugin);
  return rv == 0 ? 0 : 1;
}
