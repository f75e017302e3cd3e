/* A downstream project linking pkpo::pkpo (installed + find_package, or add_subdirectory) and calling the API.
 * Run by .ci/run after `cmake --install`. Checks one group against docs/math.md's binary closed forms. */
#include <math.h>
#include <pkpo.h>
#include <stdio.h>

int main(void) {
  const float rewards[6] = {1, 0, 0, 1, 0.5f, 0};
  float out[6];
  pkpo_handle h;
  if (pkpo_create(&h, NULL) != PKPO_SUCCESS) return 1;
  pkpo_desc d = PKPO_DESC_INIT; /* sloo_minus_one */
  d.num_groups = 2;
  d.group_size = 3;
  d.k = 2;
  const pkpo_status st = pkpo_transform(h, &d, rewards, out, NULL, NULL, NULL);
  pkpo_destroy(h);
  /* group 0 is binary (c = 1 of n = 3): correct C(n-c,k-1)/C(n,k) = 2/3, incorrect 0.
   * group 1 sorted (0, 0.5, 1): mu = (0, 1/3, 2/3), outputs (1/2, 1/6, 0) in input order. */
  const float expect[6] = {2.0f / 3, 0, 0, 0.5f, 1.0f / 6, 0};
  int bad = st != PKPO_SUCCESS;
  for (int i = 0; i < 6; ++i) bad |= fabsf(out[i] - expect[i]) > 1e-6f;
  printf("pkpo %s linked as pkpo::pkpo: %s\n", pkpo_version_string(), bad ? "MISMATCH" : "ok");
  return bad;
}
