// Network namespaces, veth pairs and BPF: this suite exists on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
