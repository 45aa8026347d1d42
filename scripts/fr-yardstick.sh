# Sourced by the GPU scripts: fr_build builds fr.cu (the independent native yardstick) from the folder FR_SRC
# names into /tmp/fr with nvcc and the host's NCCL, and prints the path of its launcher (run-fr.sh); it prints
# nothing when FR_SRC is unset or the build fails.
fr_build() {
  [[ -n ${FR_SRC:-} ]] && nvcc -O2 -arch=sm_90 -o /tmp/fr "$FR_SRC/fr.cu" -lnccl >&2 && echo "$FR_SRC/run-fr.sh"
}
