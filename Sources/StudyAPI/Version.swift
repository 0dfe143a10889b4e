/// The version of StudySync's programs, shown by `study --version` and `study-server --version` and sent by the CLI as
/// its `User-Agent` (`study/VERSION`). The wire contract has a version of its own, `SyncProtocol.version`.
public enum StudySyncVersion {
    public static let current = "0.9.0"
}
