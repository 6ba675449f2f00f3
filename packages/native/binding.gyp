{
  "targets": [
    {
      "target_name": "diffprune_native",
      "sources": ["csrc/addon.cc", "csrc/gemm.cc", "csrc/elementwise.cc", "csrc/pool.cc", "csrc/gate.cc", "csrc/dropout.cc", "csrc/sparse_delta.cc"],
      "cflags_cc!": ["-fno-exceptions", "-O2", "-O3"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CPLUSPLUSFLAGS": ["-fno-math-errno"]
      },
      "conditions": [
        ["OS=='linux'", { "libraries": ["-lpthread"] }]
      ]
    }
  ]
}
