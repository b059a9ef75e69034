{
  "targets": [
    {
      "target_name": "lvsd",
      "sources": ["native/lvsd.c", "native/probe.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "defines": ["_GNU_SOURCE"],
      "libraries": ["-lpthread"]
    }
  ]
}
