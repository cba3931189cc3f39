# Sourced by scripts/test and scripts/bench: the environment the builds need.
# The `mongocrypt` crate (benchmark peer only) links libmongocrypt from this folder.
MONGOCRYPT_LIB_DIR=$(dirname "$(dpkg -L libmongocrypt-dev | grep '/libmongocrypt\.so$' | head -n 1)")
export MONGOCRYPT_LIB_DIR
