use super::*;
use sample::week as sample;

#[test]
fn the_figures_follow_the_entries() {
    let input = sample();
    let days = figures::days(&input.entries, input.timezone, input.from, input.to);
    assert_eq!(days.len(), 7);
    assert_eq!((days[0].left_ml, days[0].right_ml), (100.0, 95.0));
    assert_eq!((days[0].pumps_with_massage, days[0].pumps_without_massage), (1, 1));
    assert_eq!((days[1].pumps_with_massage, days[1].pumps_without_massage), (0, 2));
    assert_eq!(days[2].massages, 1);
    let effect = figures::effect(&input.entries.pumps);
    assert_eq!(effect.with, (4, Some(113.0)), "(110 + 112 + 114 + 116) / 4");
    assert_eq!(effect.without.0, 10);
    let map = figures::spot_map(&input.entries);
    assert_eq!(map.counts[0], [2, 0, 0, 0, 1], "left: upper outer twice, the areola once");
    assert_eq!(map.counts[1], [0, 0, 0, 0, 1], "a spot on both counts for the right too");
}

#[test]
fn the_page_has_five_charts_with_their_labels_and_escapes_what_it_is_given() {
    let page = render(&sample()).unwrap();
    assert_eq!(page.matches("<svg").count(), 5, "{page}");
    for id in ["volume", "sessions", "effect", "timeline", "spots"] {
        assert!(page.contains(&format!("data-chart=\"{id}\"")), "{id}");
    }
    for label in ["Left", "Right", "with massage", "fever (38 °C or more)", "Left breast", "upper outer · 2"] {
        assert!(page.contains(label), "no {label:?} in the charts");
    }
    assert!(page.contains("Ana &lt;script&gt;"), "the name is escaped");
    assert!(!page.contains("<script>"), "no script at all");
    assert!(page.contains("<strong>14</strong>pump sessions"));
}
