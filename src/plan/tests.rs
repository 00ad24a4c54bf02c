use std::path::Path;

use super::*;
use crate::check::parse_checks;
use crate::config::parse_project;

fn project(platforms: &str) -> Project {
    let text = format!(
        "name: site\n{platforms}provision:\n  shell: {{ script: p.sh }}\nchecks: [checks.yaml]\n"
    );
    // The files the config names must exist.
    let root = std::env::temp_dir().join(format!("drydock-plan-{}", std::process::id()));
    for file in [
        "p.sh",
        "images/default/Dockerfile",
        "images/bookworm/Dockerfile",
        "images/trixie/Dockerfile",
    ] {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "FROM scratch\n").unwrap();
    }
    parse_project(&root, Path::new("drydock.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

const TWO: &str = "platforms:\n  bookworm: { dockerfile: images/bookworm/Dockerfile }\n  trixie: { dockerfile: images/trixie/Dockerfile }\n";

fn checks(text: &str) -> Vec<Check> {
    parse_checks(Path::new("checks.yaml"), text).unwrap()
}

fn host() -> Host {
    Host {
        name: "site".into(),
        groups: vec![],
    }
}

fn plan(platforms: &str, checks_text: &str, choice: &UnitChoice) -> Result<Plan, Error> {
    Plan::new(
        project(platforms),
        checks(checks_text),
        Selection::default(),
        vec![host()],
        choice,
    )
}

#[test]
fn each_platform_is_a_unit_with_its_scenarios() {
    let plan = plan(TWO, "- name: a\n  file: /etc/a\n", &UnitChoice::default()).unwrap();
    let ids: Vec<&str> = plan.units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["bookworm", "trixie"]);
    assert_eq!(
        plan.units[0].scenarios,
        [
            ScenarioKind::Fresh,
            ScenarioKind::Upgrade,
            ScenarioKind::Idempotence
        ]
    );
    assert!(plan.has_platforms());
    let single = super::tests::plan(
        "images:\n  default: {}\n",
        "- name: a\n  file: /etc/a\n",
        &UnitChoice::default(),
    )
    .unwrap();
    assert_eq!(single.all_units, ["default"]);
    assert!(!single.has_platforms());
}

#[test]
fn a_check_left_out_on_a_platform_is_skipped_there_with_why() {
    let text = "- name: everywhere\n  file: /etc/a\n- name: only trixie\n  file: /etc/b\n  platforms: [trixie]\n- name: not on trixie\n  file: /etc/c\n  skip_platforms: [trixie]\n- name: fresh only\n  file: /etc/d\n  scenarios: [fresh]\n";
    let plan = plan(TWO, text, &UnitChoice::default()).unwrap();
    let (bookworm, trixie) = (&plan.units[0], &plan.units[1]);
    let names = |(runs, skipped): (Vec<&Check>, Vec<(&Check, String)>)| {
        (
            runs.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            skipped
                .iter()
                .map(|(c, why)| format!("{}: {why}", c.name))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        names(plan.checks_for(bookworm, &ScenarioKind::Fresh, &host())),
        (
            vec![
                "everywhere".to_string(),
                "not on trixie".into(),
                "fresh only".into()
            ],
            vec!["only trixie: the check's `platforms` is trixie".to_string()]
        )
    );
    assert_eq!(
        names(plan.checks_for(trixie, &ScenarioKind::Upgrade, &host())),
        (
            vec!["everywhere".to_string(), "only trixie".into()],
            vec!["not on trixie: the check's `skip_platforms` lists trixie".to_string()]
        )
    );
}

#[test]
fn unknown_platforms_are_found_while_planning() {
    let err = plan(
        TWO,
        "- name: a\n  file: /etc/a\n  platforms: [jessie]\n",
        &UnitChoice::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "checks.yaml:1: `platforms`: check `a` names `jessie`, which is not a platform: the project's platforms are bookworm, trixie"
    );
    let err = plan(
        TWO,
        "- name: a\n  file: /etc/a\n",
        &UnitChoice {
            platforms: vec!["jessie".into()],
            ..UnitChoice::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().starts_with(
        "--platform jessie: not a platform of the project; its platforms are bookworm, trixie"
    ));
    let err = plan(
        "images:\n  default: {}\n",
        "- name: a\n  file: /etc/a\n  skip_platforms: [trixie]\n",
        &UnitChoice::default(),
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .ends_with("drydock.yaml has no `platforms:`"));
}

#[test]
fn shards_take_units_by_their_ids_alone() {
    let ids = ["bookworm", "trixie", "jammy", "noble", "el9", "el10"];
    for count in 1..=4 {
        let shards: Vec<u32> = ids
            .iter()
            .map(|id| Partition::shard_of(id, count))
            .collect();
        assert!(shards.iter().all(|s| (1..=count).contains(s)));
    }
    // A unit's shard depends on its id and the count, not on the other units.
    assert_eq!(
        Partition::shard_of("trixie", 2),
        Partition::shard_of("trixie", 2)
    );
    let first: Partition = "hash:1/2".parse().unwrap();
    let second: Partition = "hash:2/2".parse().unwrap();
    for id in ids {
        assert!(
            first.holds(id) != second.holds(id),
            "{id} in exactly one shard"
        );
    }
    assert_eq!(first.to_string(), "hash:1/2");
    for bad in ["hash:0/2", "hash:3/2", "1/2", "hash:1/0", "hash:a/b"] {
        assert!(bad.parse::<Partition>().is_err(), "{bad}");
    }
    let plan = plan(
        TWO,
        "- name: a\n  file: /etc/a\n",
        &UnitChoice {
            partition: Some(Partition {
                index: Partition::shard_of("trixie", 2),
                count: 2,
            }),
            ..UnitChoice::default()
        },
    )
    .unwrap();
    assert!(plan.units.iter().any(|u| u.id == "trixie"));
    assert_eq!(plan.all_units, ["bookworm", "trixie"]);
}

#[test]
fn platform_and_host_pairs_that_spell_the_same_tag_are_refused() {
    let platforms = "platforms:\n  bookworm: { dockerfile: images/bookworm/Dockerfile }\n  bookworm-tools: { dockerfile: images/bookworm/Dockerfile }\n";
    let hosts = |names: &[&str]| -> Vec<Host> {
        names
            .iter()
            .map(|n| Host {
                name: n.to_string(),
                groups: vec![],
            })
            .collect()
    };
    let plan_with = |names: &[&str]| {
        Plan::new(
            project(platforms),
            checks("- name: a\n  file: /etc/a\n"),
            Selection::default(),
            hosts(names),
            &UnitChoice::default(),
        )
    };
    let Err(err) = plan_with(&["tools-web", "web"]) else {
        panic!("two platform and host pairs spelling one tag were accepted")
    };
    assert!(
        err.to_string().ends_with(
        "drydock.yaml: platform `bookworm-tools` with host `web` and platform `bookworm` with host `tools-web` would share the image tag `…-bookworm-tools-web`; rename one"),
        "{err}"
    );
    assert!(plan_with(&["web", "db"]).is_ok());
}
