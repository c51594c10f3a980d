//! The emulators' known defects (slm_local::defects) hold exactly while the defects do: each is
//! probed on the emulator under the suite and must show where it is declared, and nowhere else.
//! A test that meets one stops on that emulator and says so; when the emulator is fixed, this
//! test fails until the declaration goes, and the tests it stopped run again.

use slm_e2e::{Defect, TestStack};

#[tokio::test]
async fn each_declared_defect_shows_on_its_emulators_and_on_no_other() {
    let t = TestStack::start("defects").await.unwrap();
    for defect in Defect::ALL {
        let shown = defect.probe(&t.clients).await.unwrap();
        assert_eq!(shown, defect.of(t.emulator), "{} on {}: declared {}, probed {}", defect.what(), t.emulator.name(), defect.of(t.emulator), shown);
    }
    t.stop().await;
}
