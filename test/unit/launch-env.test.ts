// jobFromEnv reads a job's shape from the variables launchers set. The environments below are recorded from (or
// modelled on) real launches, with some of the unrelated variables each launcher also sets, to show they are ignored.
import { expect } from 'chai';
import { ArgumentError } from '../../src/errors.js';
import { expandTasksPerNode, firstSlurmHost, jobFromEnv, type JobEnv } from '../../src/world/launch-env.js';

type Env = Record<string, string | undefined>;

const shell: Env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/home/ada', USER: 'ada', LANG: 'C.UTF-8' };

/** torchrun --nnodes 2 --nproc-per-node 4 --rdzv-endpoint node0.cluster:29500, second node, third GPU. */
const torchrunNode1: Env = {
  ...shell,
  RANK: '6',
  WORLD_SIZE: '8',
  LOCAL_RANK: '2',
  LOCAL_WORLD_SIZE: '4',
  GROUP_RANK: '1',
  GROUP_WORLD_SIZE: '2',
  ROLE_RANK: '6',
  ROLE_NAME: 'default',
  ROLE_WORLD_SIZE: '8',
  MASTER_ADDR: 'node0.cluster',
  MASTER_PORT: '29500',
  TORCHELASTIC_RESTART_COUNT: '0',
  TORCHELASTIC_MAX_RESTARTS: '0',
  TORCHELASTIC_RUN_ID: 'none',
  TORCHELASTIC_USE_AGENT_STORE: 'True',
  TORCH_NCCL_ASYNC_ERROR_HANDLING: '1',
  OMP_NUM_THREADS: '1',
};

/** mpirun -np 4 node train.mjs on one host (Open MPI 5: PMIx too). */
const mpirunOneHost: Env = {
  ...shell,
  OMPI_COMM_WORLD_RANK: '3',
  OMPI_COMM_WORLD_SIZE: '4',
  OMPI_COMM_WORLD_LOCAL_RANK: '3',
  OMPI_COMM_WORLD_LOCAL_SIZE: '4',
  OMPI_COMM_WORLD_NODE_RANK: '3',
  OMPI_UNIVERSE_SIZE: '4',
  OMPI_APP_CTX_NUM_PROCS: '4',
  OMPI_MCA_orte_precondition_transports: 'd7a6a3e1c0b2f4e5-9a8b7c6d5e4f3a2b',
  PMIX_RANK: '3',
  PMIX_NAMESPACE: 'prterun-host-a-12345@1',
  PMIX_SERVER_URI41: 'prterun-host-a-12345@0.0;tcp4://127.0.0.1:40123',
};

/** mpirun -np 8 -H host-a:4,host-b:4 -x FAIRRING_STORE_ADDR=host-a node train.mjs, on host-b. */
const mpirunTwoHosts: Env = {
  ...shell,
  OMPI_COMM_WORLD_RANK: '5',
  OMPI_COMM_WORLD_SIZE: '8',
  OMPI_COMM_WORLD_LOCAL_RANK: '1',
  OMPI_COMM_WORLD_LOCAL_SIZE: '4',
  OMPI_COMM_WORLD_NODE_RANK: '1',
  PMIX_RANK: '5',
  FAIRRING_STORE_ADDR: 'host-a',
};

/** sbatch --nodes 2 --ntasks-per-node 4 --gpus-per-node 4, then srun node train.mjs: task 5 (second node). */
const srunTask5: Env = {
  ...shell,
  SLURM_JOB_ID: '481516',
  SLURM_JOBID: '481516',
  SLURM_JOB_NAME: 'train',
  SLURM_JOB_NUM_NODES: '2',
  SLURM_NNODES: '2',
  SLURM_JOB_NODELIST: 'gpu[01-02]',
  SLURM_NODELIST: 'gpu[01-02]',
  SLURM_TASKS_PER_NODE: '4(x2)',
  SLURM_NTASKS_PER_NODE: '4',
  SLURM_NTASKS: '8',
  SLURM_NPROCS: '8',
  SLURM_STEP_ID: '0',
  SLURM_STEPID: '0',
  SLURM_STEP_NODELIST: 'gpu[01-02]',
  SLURM_STEP_NUM_NODES: '2',
  SLURM_STEP_NUM_TASKS: '8',
  SLURM_STEP_TASKS_PER_NODE: '4(x2)',
  SLURM_PROCID: '5',
  SLURM_LOCALID: '1',
  SLURM_NODEID: '1',
  SLURMD_NODENAME: 'gpu02',
  SLURM_TOPOLOGY_ADDR: 'gpu02',
  SLURM_GPUS_ON_NODE: '4',
  CUDA_VISIBLE_DEVICES: '0,1,2,3',
};

/** The sbatch script's own (batch) environment: what an mpirun started inside it inherits. */
const sbatchBatchStep: Env = {
  ...shell,
  SLURM_JOB_ID: '481517',
  SLURM_JOB_NODELIST: 'gpu[01-02]',
  SLURM_NODELIST: 'gpu[01-02]',
  SLURM_TASKS_PER_NODE: '4(x2)',
  SLURM_NTASKS_PER_NODE: '4',
  SLURM_NTASKS: '8',
  SLURM_NPROCS: '8',
  SLURM_PROCID: '0',
  SLURM_LOCALID: '0',
  SLURM_NODEID: '0',
  SLURMD_NODENAME: 'gpu01',
};

/** mpirun -np 8 --map-by ppr:4:node -x FAIRRING_STORE_ADDR=gpu01 node train.mjs inside that sbatch; rank 6 on gpu02. */
const mpirunInsideSbatch: Env = {
  ...sbatchBatchStep,
  OMPI_COMM_WORLD_RANK: '6',
  OMPI_COMM_WORLD_SIZE: '8',
  OMPI_COMM_WORLD_LOCAL_RANK: '2',
  OMPI_COMM_WORLD_LOCAL_SIZE: '4',
  PMIX_RANK: '6',
  FAIRRING_STORE_ADDR: 'gpu01',
};

/** Runs f, expects an ArgumentError, returns its message. */
function argumentError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(ArgumentError);
    expect((e as ArgumentError).code).to.equal('ERR_FAIRRING_ARGUMENT');
    return (e as Error).message;
  }
  expect.fail('expected an ArgumentError');
}

describe('jobFromEnv', () => {
  it('defaults to a single process on 127.0.0.1 when nothing is set', () => {
    const job = jobFromEnv({ ...shell });
    expect(job).to.deep.equal({
      rank: 0,
      worldSize: 1,
      localRank: 0,
      localWorldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: 29500,
      storeAddr: '127.0.0.1',
      storePort: 29501,
      source: 'fairring',
    } satisfies JobEnv);
    expect(job).to.not.have.property('machineId');
    expect(job).to.not.have.property('token');
  });

  it('refuses an env that is not an object', () => {
    for (const bad of [null, undefined, 'RANK=0']) expect(() => jobFromEnv(bad as unknown as Env), String(bad)).to.throw(ArgumentError, /^env must be an object of environment variables/);
  });

  it('reads only the env it is given, not process.env', () => {
    const saved = process.env['RANK'];
    process.env['RANK'] = '3';
    try {
      expect(jobFromEnv({}).rank).to.equal(0);
    } finally {
      if (saved === undefined) delete process.env['RANK'];
      else process.env['RANK'] = saved;
    }
  });

  it('reads torchrun on the second of two nodes; our store on MASTER_PORT + 1', () => {
    expect(jobFromEnv(torchrunNode1)).to.deep.equal({
      rank: 6,
      worldSize: 8,
      localRank: 2,
      localWorldSize: 4,
      masterAddr: 'node0.cluster',
      masterPort: 29500,
      storeAddr: 'node0.cluster',
      storePort: 29501,
      source: 'torchrun',
    } satisfies JobEnv);
  });

  it('adds the FAIRRING_* names: store address and port, machine id, token', () => {
    const job = jobFromEnv({
      ...torchrunNode1,
      FAIRRING_STORE_ADDR: '10.0.0.5',
      FAIRRING_STORE_PORT: '40000',
      FAIRRING_MACHINE_ID: 'rack3-node1',
      FAIRRING_TOKEN: 's3cret',
    });
    expect(job).to.include({ masterAddr: 'node0.cluster', storeAddr: '10.0.0.5', storePort: 40000, machineId: 'rack3-node1', token: 's3cret', source: 'torchrun' });
  });

  it('reads mpirun on one host: 127.0.0.1 since every rank is local', () => {
    expect(jobFromEnv(mpirunOneHost)).to.deep.equal({
      rank: 3,
      worldSize: 4,
      localRank: 3,
      localWorldSize: 4,
      masterAddr: '127.0.0.1',
      masterPort: 29500,
      storeAddr: '127.0.0.1',
      storePort: 29501,
      source: 'openmpi',
    } satisfies JobEnv);
  });

  it('reads mpirun on two hosts with FAIRRING_STORE_ADDR as rank 0\'s host', () => {
    expect(jobFromEnv(mpirunTwoHosts)).to.include({ rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: 'host-a', storeAddr: 'host-a', source: 'openmpi' });
  });

  it('takes PMIX_RANK when OMPI_COMM_WORLD_RANK is absent', () => {
    const env = { ...mpirunOneHost, OMPI_COMM_WORLD_RANK: undefined, PMIX_RANK: '2' };
    expect(jobFromEnv(env)).to.include({ rank: 2, source: 'openmpi' });
  });

  it('reads srun inside sbatch: rank 0\'s host is the first of SLURM_STEP_NODELIST', () => {
    expect(jobFromEnv(srunTask5)).to.deep.equal({
      rank: 5,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 4,
      masterAddr: 'gpu01',
      masterPort: 29500,
      storeAddr: 'gpu01',
      storePort: 29501,
      source: 'slurm',
    } satisfies JobEnv);
  });

  it('honours an exported MASTER_ADDR / MASTER_PORT under Slurm', () => {
    expect(jobFromEnv({ ...srunTask5, MASTER_ADDR: 'gpu01-ib', MASTER_PORT: '12345' })).to.include({ masterAddr: 'gpu01-ib', masterPort: 12345, storePort: 12346 });
  });

  it('ignores Slurm\'s variables under an mpirun inside sbatch', () => {
    expect(jobFromEnv(mpirunInsideSbatch)).to.include({ rank: 6, worldSize: 8, localRank: 2, localWorldSize: 4, masterAddr: 'gpu01', source: 'openmpi' });
  });

  it('prefers torchrun over Open MPI over Slurm', () => {
    expect(jobFromEnv({ ...srunTask5, ...mpirunOneHost, ...torchrunNode1 }).source).to.equal('torchrun');
    expect(jobFromEnv({ ...srunTask5, ...mpirunOneHost }).source).to.equal('openmpi');
  });

  it('takes this node\'s count of uneven tasks per node via SLURM_NODEID', () => {
    const uneven: Env = {
      SLURM_PROCID: '6',
      SLURM_NTASKS: '7',
      SLURM_LOCALID: '0',
      SLURM_NODEID: '3',
      SLURM_STEP_TASKS_PER_NODE: '2(x3),1',
      SLURM_STEP_NODELIST: 'gpu[01-04,07],cpu3',
    };
    expect(jobFromEnv(uneven)).to.include({ rank: 6, worldSize: 7, localRank: 0, localWorldSize: 1, masterAddr: 'gpu01' });
    expect(jobFromEnv({ ...uneven, SLURM_PROCID: '3', SLURM_LOCALID: '1', SLURM_NODEID: '1' })).to.include({ localRank: 1, localWorldSize: 2 });
  });

  it('falls back to SLURM_NTASKS_PER_NODE and SLURM_JOB_NODELIST', () => {
    const env: Env = { SLURM_PROCID: '1', SLURM_NTASKS: '4', SLURM_LOCALID: '1', SLURM_NTASKS_PER_NODE: '2', SLURM_JOB_NODELIST: 'a100-[3-4]' };
    expect(jobFromEnv(env)).to.include({ localWorldSize: 2, masterAddr: 'a100-3', source: 'slurm' });
  });

  it('expands Slurm tasks-per-node forms', () => {
    expect(expandTasksPerNode('X', '4')).to.deep.equal([4]);
    expect(expandTasksPerNode('X', '4(x2)')).to.deep.equal([4, 4]);
    expect(expandTasksPerNode('X', '2(x3),1')).to.deep.equal([2, 2, 2, 1]);
    expect(expandTasksPerNode('X', '1,3(x2)')).to.deep.equal([1, 3, 3]);
  });

  it('takes the first host of Slurm host lists', () => {
    expect(firstSlurmHost('X', 'gpu[01-04,07],cpu3')).to.equal('gpu01');
    expect(firstSlurmHost('X', 'gpu[07,01-04]')).to.equal('gpu07');
    expect(firstSlurmHost('X', 'node7')).to.equal('node7');
    expect(firstSlurmHost('X', 'cpu3,gpu[01-02]')).to.equal('cpu3');
    expect(firstSlurmHost('X', 'rack[2-3]-n[008-009]')).to.equal('rack2-n008');
    expect(firstSlurmHost('X', 'gpu[1-2]-ib,x')).to.equal('gpu1-ib');
  });

  it('lets overrides win over everything', () => {
    const job = jobFromEnv(srunTask5, { masterAddr: 'head', masterPort: 7000, storePort: 7100, token: 't' });
    expect(job).to.include({ rank: 5, masterAddr: 'head', storeAddr: 'head', masterPort: 7000, storePort: 7100, token: 't', source: 'slurm' });
    expect(jobFromEnv(torchrunNode1, { rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2 })).to.include({ rank: 1, worldSize: 2, source: 'overrides' });
    expect(jobFromEnv({}, { source: 'torchrun' }).source).to.equal('torchrun');
  });

  describe('errors (ArgumentError naming the variable, its value and the fix)', () => {
    it('a partial torchrun environment', () => {
      const m = argumentError(() => jobFromEnv({ RANK: '1', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2' }));
      expect(m).to.match(/WORLD_SIZE is not set, but RANK is/).and.match(/torchrun/);
    });

    it('a non-integer', () => {
      expect(argumentError(() => jobFromEnv({ ...torchrunNode1, WORLD_SIZE: 'eight' }))).to.match(/WORLD_SIZE="eight" is not a non-negative integer/);
      expect(argumentError(() => jobFromEnv({ ...mpirunOneHost, OMPI_COMM_WORLD_LOCAL_RANK: '1.5' }))).to.match(/OMPI_COMM_WORLD_LOCAL_RANK="1.5"/);
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_PROCID: '-1' }))).to.match(/SLURM_PROCID="-1"/);
    });

    it('rank ≥ worldSize', () => {
      expect(argumentError(() => jobFromEnv({ ...torchrunNode1, RANK: '8' }))).to.match(/RANK="8" is not below WORLD_SIZE="8"/);
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_PROCID: '9' }))).to.match(/SLURM_PROCID="9" is not below SLURM_NTASKS="8"/);
      expect(argumentError(() => jobFromEnv({}, { rank: 1 }))).to.match(/overrides.rank="1" is not below worldSize="1"/);
    });

    it('localRank ≥ localWorldSize, and localWorldSize > worldSize', () => {
      expect(argumentError(() => jobFromEnv({ ...mpirunOneHost, OMPI_COMM_WORLD_LOCAL_RANK: '4' }))).to.match(
        /OMPI_COMM_WORLD_LOCAL_RANK="4" is not below OMPI_COMM_WORLD_LOCAL_SIZE="4"/,
      );
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_LOCALID: '4' }))).to.match(/SLURM_LOCALID="4" is not below SLURM_STEP_TASKS_PER_NODE="4"/);
      expect(argumentError(() => jobFromEnv({ ...torchrunNode1, LOCAL_WORLD_SIZE: '16', LOCAL_RANK: '2' }))).to.match(/LOCAL_WORLD_SIZE="16" is above WORLD_SIZE="8"/);
    });

    it('a multi-node job without rank 0\'s host', () => {
      const ompi = argumentError(() => jobFromEnv({ ...mpirunTwoHosts, FAIRRING_STORE_ADDR: undefined }));
      expect(ompi).to.match(/multi-node/).and.match(/OMPI_COMM_WORLD_SIZE="8"/).and.match(/mpirun -x FAIRRING_STORE_ADDR=/);
      const slurm = argumentError(() => jobFromEnv({ ...srunTask5, SLURM_STEP_NODELIST: undefined, SLURM_JOB_NODELIST: undefined, SLURM_NODELIST: undefined }));
      expect(slurm).to.match(/multi-node/).and.match(/SLURM_STEP_NODELIST/);
      const torch = argumentError(() => jobFromEnv({ ...torchrunNode1, MASTER_ADDR: undefined }));
      expect(torch).to.match(/multi-node/).and.match(/MASTER_ADDR/);
    });

    it('a loopback host for a multi-node job', () => {
      expect(argumentError(() => jobFromEnv({ ...torchrunNode1, MASTER_ADDR: '127.0.0.1' }))).to.match(/MASTER_ADDR="127.0.0.1" is a loopback address/);
      expect(argumentError(() => jobFromEnv({ ...mpirunTwoHosts, FAIRRING_STORE_ADDR: 'localhost' }))).to.match(/FAIRRING_STORE_ADDR="localhost" is a loopback/);
    });

    it('Slurm\'s tasks per node: bad form, missing, node id out of range, sum not the task count', () => {
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_STEP_TASKS_PER_NODE: '4(2)' }))).to.match(/SLURM_STEP_TASKS_PER_NODE="4\(2\)" is not a Slurm tasks-per-node list/);
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_STEP_TASKS_PER_NODE: undefined, SLURM_NTASKS_PER_NODE: undefined }))).to.match(
        /SLURM_NTASKS_PER_NODE are not set, but SLURM_PROCID is/,
      );
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_NODEID: '2' }))).to.match(/SLURM_NODEID="2" is not below the 2 nodes/);
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_NODEID: undefined }))).to.match(/SLURM_NODEID is not set/);
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_STEP_TASKS_PER_NODE: '4(x3)' }))).to.match(/adds up to 12 tasks but SLURM_NTASKS="8"/);
    });

    it('a Slurm host list that is not one', () => {
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_STEP_NODELIST: 'gpu[01-02' }))).to.match(/SLURM_STEP_NODELIST="gpu\[01-02" has an unmatched '\['/);
      expect(argumentError(() => jobFromEnv({ ...srunTask5, SLURM_STEP_NODELIST: 'gpu[a-b]' }))).to.match(/SLURM_STEP_NODELIST="gpu\[a-b\]"/);
    });

    it('PMIX_RANK disagreeing with OMPI_COMM_WORLD_RANK', () => {
      expect(argumentError(() => jobFromEnv({ ...mpirunOneHost, PMIX_RANK: '0' }))).to.match(/PMIX_RANK="0" disagrees with OMPI_COMM_WORLD_RANK="3"/);
    });

    it('ports: not a port, no room for MASTER_PORT + 1, the store on torchrun\'s own port', () => {
      expect(argumentError(() => jobFromEnv({ ...torchrunNode1, MASTER_PORT: '70000' }))).to.match(/MASTER_PORT="70000" is not a port/);
      expect(argumentError(() => jobFromEnv({ ...torchrunNode1, MASTER_PORT: '65535' }))).to.match(/FAIRRING_STORE_PORT/);
      expect(argumentError(() => jobFromEnv({ ...torchrunNode1, FAIRRING_STORE_PORT: '29500' }))).to.match(/MASTER_PORT itself/);
      expect(argumentError(() => jobFromEnv({ FAIRRING_STORE_PORT: 'x' }))).to.match(/FAIRRING_STORE_PORT="x"/);
    });

    it('bad overrides', () => {
      expect(argumentError(() => jobFromEnv({}, { worldSize: 0 }))).to.match(/overrides.worldSize must be an integer ≥ 1, got 0/);
      expect(argumentError(() => jobFromEnv({}, { rank: 0.5 }))).to.match(/overrides.rank/);
      expect(argumentError(() => jobFromEnv({}, { rnk: 1 } as Partial<JobEnv>))).to.match(/no key 'rnk'/);
      expect(argumentError(() => jobFromEnv({}, { masterPort: 0 }))).to.match(/overrides.masterPort must be a port/);
    });

    it('never prints the token', () => {
      const m = argumentError(() => jobFromEnv({ ...torchrunNode1, RANK: '99', FAIRRING_TOKEN: 'hunter2' }));
      expect(m).to.not.include('hunter2');
    });
  });
});
