#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "pkpo.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return (x>y)-(x<y);}
int main(void){
  int64_t Ns[]={2048,4096,8192,16384,32768,65536,131072,262144};
  int64_t gs[]={16,256,1024};
  int64_t maxN=262144; float* in=malloc(maxN*4),*out=malloc(maxN*4);
  uint64_t s=1; for(int64_t i=0;i<maxN;i++){s=s*6364136223846793005ULL+1442695040888963407ULL; in[i]=(float)(s>>40)/16777216.0f;}
  pkpo_handle h[3]; for(int t=1;t<=2;t++){pkpo_handle_options o=PKPO_HANDLE_OPTIONS_INIT;o.num_threads=t;pkpo_create(&h[t],&o);}
  printf("n,N,t1_us,t2_us,ratio\n");
  for(int gi=0;gi<3;gi++) for(int ni=0;ni<8;ni++){ int64_t n=gs[gi],N=Ns[ni]; if(N<n) continue;
    pkpo_desc d=PKPO_DESC_INIT; d.num_groups=N/n; d.group_size=n; d.k=4;
    enum{R=201}; double tt[3][R];
    for(int t=1;t<=2;t++){pkpo_reserve(h[t],&d); pkpo_transform(h[t],&d,in,out,NULL,NULL,NULL);}
    for(int r=0;r<R;r++) for(int t=1;t<=2;t++){double t0=now(); pkpo_transform(h[t],&d,in,out,NULL,NULL,NULL); tt[t][r]=now()-t0;}
    qsort(tt[1],R,8,cmp); qsort(tt[2],R,8,cmp);
    printf("%lld,%lld,%.1f,%.1f,%.2f\n",(long long)n,(long long)N,tt[1][R/2]*1e6,tt[2][R/2]*1e6,tt[1][R/2]/tt[2][R/2]);
  }
  return 0;}
