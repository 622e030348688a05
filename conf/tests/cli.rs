//! The command line: which file is read, and what the options override.

use std::io::Write;

use clap::Parser;
use conf::Cli;

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("ipvlan-switch").chain(args.iter().copied())).unwrap()
}

#[test]
fn without_options_the_default_config_runs() {
    let config = cli(&[]).resolve().unwrap();
    assert_eq!(config.phy.at, "<default>:11: phy.device");
    assert_eq!((config.log_level, config.stats_out), (None, None));
}

#[test]
fn lcores_option_takes_lists_and_ranges() {
    assert_eq!(
        cli(&["--lcores", "1-3"]).resolve().unwrap().lcores,
        Some(vec![1, 2, 3])
    );
    assert_eq!(
        cli(&["--lcores", "1,2"]).resolve().unwrap().lcores,
        Some(vec![1, 2])
    );
}

#[test]
fn bad_lcores_option_names_it() {
    for bad in ["x", "1,1", "3-1"] {
        let error = cli(&["--lcores", bad]).resolve().unwrap_err();
        assert_eq!(
            (error.line, error.key.as_deref()),
            (None, Some("--lcores")),
            "{error}"
        );
        assert!(
            error.to_string().starts_with("<command line>: --lcores: "),
            "{error}"
        );
    }
}

#[test]
fn eal_args_option_replaces_the_file_s() {
    let config = cli(&["--eal-args", "-l 0,1 --no-pci"]).resolve().unwrap();
    assert_eq!(config.eal_args, ["-l", "0,1", "--no-pci"]);
}

#[test]
fn log_level_and_stats_out_are_kept() {
    let config = cli(&["--log-level", "debug", "--stats-out", "/tmp/stats.json"])
        .resolve()
        .unwrap();
    assert_eq!(config.log_level.as_deref(), Some("debug"));
    assert_eq!(config.stats_out.as_deref(), Some("/tmp/stats.json".as_ref()));
    assert!(Cli::try_parse_from(["ipvlan-switch", "--log-level", "loud"]).is_err());
}

#[test]
fn check_config_reads_the_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("conf-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("switch.toml");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(b"lcores = [2]\n[phy]\nring = \"p\"\nmtu = 10\n")
        .unwrap();
    let error = cli(&["--check-config", path.to_str().unwrap()])
        .resolve()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:4: phy.mtu: 10 is not in 68..=9600", path.display())
    );
    std::fs::write(&path, "lcores = [2]\n[phy]\nring = \"p\"\n").unwrap();
    let config = cli(&["--check-config", path.to_str().unwrap(), "--lcores", "3"])
        .resolve()
        .unwrap();
    assert_eq!(config.lcores, Some(vec![3]));
    assert_eq!(config.phy.at, format!("{}:3: phy.ring", path.display()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_and_check_config_exclude_each_other() {
    assert!(Cli::try_parse_from(["ipvlan-switch", "--config", "a", "--check-config", "b"]).is_err());
}
