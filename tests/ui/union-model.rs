use encrypted::Encrypted;
use serde::{Deserialize, Serialize};

#[derive(Encrypted)]
union Bits {
    int: i32,
    float: f32,
}

fn main() {}
